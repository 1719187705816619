import Foundation
import Logging
import Synchronization
import Testing

@testable import JobControl

@Suite struct ExecutionSettingsTests {
    func engine(_ yaml: String) throws -> BuildEngine {
        try testEngine(yaml)
    }

    @Test func environmentWorkingDirectoryAndUserReachTheCommand() async throws {
        let engine = try engine(
            """
            jobs:
              - id: a
                command: 'echo "$GREETING from $(pwd) as $(id -u)"'
                environment: {GREETING: hi}
                working_directory: /usr
                user: nobody
            """)
        let build = try await engine.waitUntilFinished(try await engine.run(jobID: "a").id)
        #expect(build.state == .successful, "\(String(describing: build.exception))")
        let lines = try engine.storage.iterLogMessages(LogQuery(buildID: build.id)).map(\.message)
        #expect(lines.contains("hi from /usr as 65534"))
    }

    /// Run as another user (through setpriv), a missing program fails the build as it does
    /// for anyone: SpawnFailed, not setpriv's exit status 127.
    @Test func aMissingProgramUnderAnotherUserFailsToStart() async throws {
        let engine = try engine(
            """
            jobs:
              - id: a
                command: [/nonexistent/tool, --flag]
                user: nobody
              - id: b
                command: [no-such-tool-anywhere]
                user: nobody
            """)
        for job in ["a", "b"] {
            let build = try await engine.waitUntilFinished(try await engine.run(jobID: job).id)
            #expect(build.exception?["type"] == "SpawnFailed", "\(String(describing: build.exception))")
            #expect(build.exception?["message"]?.stringValue?.contains("No such file or directory") == true)
        }
    }

    /// A build's token authorizes its in-build helpers (skip, retval, log, progress): a build
    /// that prints its environment must not show it to whoever may read its log.
    @Test func theBuildsTokenIsMaskedInItsLog() async throws {
        let engine = try engine("jobs:\n  - {id: a, command: 'env | grep ^JOBCONTROL_TOKEN='}\n")
        let build = try await engine.waitUntilFinished(try await engine.run(jobID: "a").id)
        let lines = try engine.storage.iterLogMessages(LogQuery(buildID: build.id)).map(\.message)
        #expect(lines.contains("JOBCONTROL_TOKEN=***"), "\(lines)")
    }

    @Test func secretsAreInjectedButNeverStored() async throws {
        let engine = try engine(
            """
            secret: {token: s3cr3t-VALUE-42}
            jobs:
              - id: a
                command: 'echo "arg=$1 env=$TOKEN"; echo "$TOKEN" >&2; exit 1'
                args: [!secret token]
                environment: {TOKEN: !secret token}
            """)
        let build = try await engine.waitUntilFinished(try await engine.run(jobID: "a").id)
        #expect(build.state == .failed)
        let lines = try engine.storage.iterLogMessages(LogQuery(buildID: build.id)).map(\.message)
        #expect(lines.contains("arg=*** env=***"))
        for text in [
            build.config.jsonText(), build.exception?.jsonText() ?? "", build.exceptionTraceback?.jsonText() ?? "",
        ] + lines {
            #expect(!text.contains("s3cr3t-VALUE-42"), "\(text)")
        }
    }

    @Test func aDisabledJobIsRefused() async throws {
        let engine = try engine("jobs:\n  - {id: a, command: x, enabled: false}\n")
        await #expect(throws: EngineError.self) { try await engine.run(jobID: "a") }
    }
}

@Suite struct ExecutionControlTests {
    func engine(_ yaml: String) throws -> BuildEngine {
        try testEngine(yaml)
    }

    /// Waits (bounded, 10 s) until no live process has `marker` in its command line.
    static func processesGone(containing marker: String) async -> Bool {
        for _ in 0..<500 {
            if processes(containing: marker).isEmpty { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return processes(containing: marker).isEmpty
    }

    /// Live processes whose command line contains `marker` (zombies have none, so they do not count).
    static func processes(containing marker: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { $0.allSatisfy(\.isNumber) }.compactMap { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            let command = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            return command.contains(marker) ? "\(pid): \(command)" : nil
        }
    }

    @Test func timeoutTearsDownAProcessTreeThatIgnoresSIGTERM() async throws {
        let marker = "314.\(Int.random(in: 100_000...999_999))"
        let engine = try engine(
            """
            jobs:
              - id: stubborn
                timeout: 1s
                command: "trap '' TERM; (trap '' TERM; sleep \(marker)) & sleep \(marker); echo never"
            """)
        let build = try await engine.waitUntilFinished(try await engine.run(jobID: "stubborn").id)
        #expect(build.state == .failed)
        #expect(build.exception?["type"] == "Timeout")
        // The build ended after its 1 s timeout and the 5 s grace, not when `sleep 314…` would
        // have: its own recorded duration (generous for two busy cores, far below 314 s).
        let duration = (build.endTime ?? .distantFuture).timeIntervalSince(build.startTime ?? .distantPast)
        #expect(duration >= 1 && duration < 30, "the build lasted \(duration) s")
        #expect(await Self.processesGone(containing: marker))
    }

    @Test func poolLimitsAreNeverExceeded() async throws {
        // The pooled builds wait for a gate the test opens once both free builds have ended: a
        // free build then ran beside the first pooled one however slowly the test runs.
        let gate = FileManager.default.temporaryDirectory.appendingPathComponent("jc-pool-gate-\(UUID())").path
        defer { unlink(gate) }
        let engine = try engine(
            """
            workers: 4
            pools: {db: {workers: 1}}
            jobs:
              - {id: pooled, pool: db, command: 'while [ ! -e \(gate) ]; do sleep 0.01; done; sleep 0.2'}
              - {id: free, command: 'sleep 0.2'}
            """)
        var ids: [Int64] = []
        for job in ["pooled", "pooled", "pooled", "free", "free"] { ids.append(try await engine.run(jobID: job).id) }
        for id in ids.suffix(2) { _ = try await engine.waitUntilFinished(id) }
        #expect(FileManager.default.createFile(atPath: gate, contents: nil))
        var builds: [Build] = []
        for id in ids { builds.append(try await engine.waitUntilFinished(id)) }
        #expect(builds.allSatisfy { $0.state == .successful })
        // Measured, not assumed: the pooled builds' running intervals never overlap…
        let pooled = builds.filter { $0.jobID == "pooled" }.map { ($0.startTime!, $0.endTime!) }.sorted { $0.0 < $1.0 }
        for (earlier, later) in zip(pooled, pooled.dropFirst()) { #expect(earlier.1 <= later.0) }
        // …while a build outside the pool ran alongside the first pooled one.
        let free = builds.filter { $0.jobID == "free" }.map { ($0.startTime!, $0.endTime!) }
        #expect(free.contains { $0.0 < pooled[0].1 })
    }

    @Test func aProtectedJobNeedsForce() async throws {
        let engine = try engine("jobs:\n  - {id: a, command: 'true', protected: true}\n")
        await #expect(throws: EngineError.self) { try await engine.run(jobID: "a") }
        let build = try await engine.waitUntilFinished(try await engine.run(jobID: "a", force: true).id)
        #expect(build.state == .successful)
    }

    @Test func poolsAreValidated() {
        #expect(throws: ConfigError.self) {
            try ConfigLoader.parse(
                yaml: "pools: {db: {workers: 1}}\njobs:\n  - {id: a, command: x, pool: dbb}\n", file: "t.yaml")
        }
        #expect(throws: ConfigError.self) { try ConfigLoader.parse(yaml: "pools: {db: {}}\n", file: "t.yaml") }
        #expect(throws: ConfigError.self) {
            try ConfigLoader.parse(yaml: "jobs:\n  - {id: a, command: x, timeout: soon}\n", file: "t.yaml")
        }
    }
}

@Suite struct CancelTests {
    @Test func cancelStopsARunningTreeAndAQueuedBuildNeverStarts() async throws {
        let marker = "271.\(Int.random(in: 100_000...999_999))"
        let config = try ConfigLoader.parse(
            yaml: """
                workers: 1
                jobs:
                  - {id: long, command: "trap '' TERM; (trap '' TERM; sleep \(marker)) & sleep \(marker)"}
                  - {id: next, command: 'echo should not run'}
                """, file: "t.yaml")
        let storage = try StorageFactory.open(url: "sqlite::memory:")
        try storage.install()
        let engine = BuildEngine(
            config: config, storage: storage, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        let long = try await engine.run(jobID: "long")
        let queued = try await engine.run(jobID: "next")
        try await waitUntil { (try? storage.getBuild(long.id))??.state == .running }
        try await engine.cancel(buildID: queued.id)
        try await engine.cancel(buildID: long.id)
        let cancelled = try await engine.waitUntilFinished(long.id)
        #expect(cancelled.exception?["type"] == "Cancelled")
        let never = try await engine.waitUntilFinished(queued.id)
        #expect(never.exception?["type"] == "Cancelled")
        #expect(!never.started)
        #expect(
            try storage.iterLogMessages(LogQuery(buildID: queued.id)).allSatisfy {
                !$0.message.contains("should not run")
            })
        // SIGKILL to the group has been sent; the kernel may take a moment to finish them.
        #expect(await ExecutionControlTests.processesGone(containing: marker))
        await #expect(throws: EngineError.self) { try await engine.cancel(buildID: long.id) }
    }

    /// A command that traps SIGTERM and exits 0 when cancelled: the build was cancelled all
    /// the same (it was recorded SUCCESSFUL).
    @Test func aCancelledCommandThatExitsZeroIsRecordedCancelled() async throws {
        let config = try ConfigLoader.parse(
            yaml: """
                jobs:
                  - {id: trapper, command: "trap 'echo got-term; exit 0' TERM; sleep 30 & wait"}
                """, file: "t.yaml")
        let storage = try StorageFactory.open(url: "sqlite::memory:")
        try storage.install()
        let engine = BuildEngine(
            config: config, storage: storage, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        let build = try await engine.run(jobID: "trapper")
        try await waitUntil { (try? storage.getBuild(build.id))??.state == .running }
        try await engine.cancel(buildID: build.id)
        let ended = try await engine.waitUntilFinished(build.id)
        #expect(ended.state == .failed && ended.exception?["type"] == "Cancelled", "\(ended)")
    }

    /// A build cancelled while it waits for a worker ends at once, recorded as cancelled (a
    /// crash before some worker frees must not run it after all), without taking a worker.
    @Test func aQueuedBuildCancelledEndsAtOnce() async throws {
        // `long` runs until the test cancels it (300 s at most): the checks below need it running.
        let marker = "0.27\(Int.random(in: 100_000...999_999))"
        let engine = try testEngine(
            """
            workers: 1
            jobs:
              - {id: long, command: 'sleep 30\(marker)'}
              - {id: next, command: 'echo should not run'}
              - {id: after, command: 'true'}
            """)
        let long = try await engine.run(jobID: "long")
        let queued = try await engine.run(jobID: "next")
        let after = try await engine.run(jobID: "after")
        try await waitUntil { (try? engine.storage.getBuild(long.id))??.state == .running }
        try await engine.cancel(buildID: queued.id)
        let ended = try await engine.waitUntilFinished(queued.id)
        #expect(ended.exception?["type"] == "Cancelled" && !ended.started)
        // Recorded while the worker is still busy, and it took no worker from the build after it.
        #expect(try engine.storage.getBuild(long.id)?.finished == false)
        #expect(try engine.storage.getBuild(after.id)?.started == false)
        #expect(engine.pool.counts == (running: 1, queued: 1))
        try await engine.cancel(buildID: long.id)
        #expect(try await engine.waitUntilFinished(after.id).state == .successful)
    }

    /// A cancel that comes while a build's start is still being recorded: its command does not
    /// start, and if it got to start, the build ends only after it (the worker is not handed on,
    /// nor the end recorded, while the command runs). The command ignores SIGTERM, so a build that
    /// ended too early would leave it running.
    @Test func aBuildCancelledAsItStartsEndsAfterItsCommand() async throws {
        // The command waits for a gate the test opens once its cancel is in (then takes 0.3 s
        // more): the cancel always lands while it runs, however slowly the test runs. The
        // marker is in the gate's path, so the shell's command line carries it.
        let marker = "stubborn-\(Int.random(in: 100_000...999_999))"
        let gates = FileManager.default.temporaryDirectory.appendingPathComponent("jc-\(marker)").path
        try FileManager.default.createDirectory(atPath: gates, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: gates) }
        let engine = try testEngine(
            """
            jobs:
              - id: stubborn
                command: "trap '' TERM; while [ ! -e \(gates)/$JOBCONTROL_BUILD_ID ]; do sleep 0.01; done; sleep 0.3; exit 3"
            """)
        for _ in 0..<20 {
            let build = try await engine.run(jobID: "stubborn")
            // Right after its start is recorded (polled without sleeping): before, at or after the
            // engine registers how to cancel its work. Cancels landing before it used to end the
            // build at once, leaving the command it had started running (most of 20 builds).
            let deadline = ContinuousClock.now + .seconds(30)
            while try engine.storage.getBuild(build.id)?.started != true {
                guard ContinuousClock.now < deadline else { throw CancellationError() }
                await Task.yield()
            }
            try await engine.cancel(buildID: build.id)
            #expect(FileManager.default.createFile(atPath: "\(gates)/\(build.id)", contents: nil))
            let ended = try await engine.waitUntilFinished(build.id)
            #expect(ended.exception?["type"] == "Cancelled")
            #expect(
                ExecutionControlTests.processes(containing: marker).isEmpty,
                "build \(build.id) ended while its command was running")
        }
    }

    func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

/// Builds that replaced crashed ones count as attempts: a job whose builds take the daemon down
/// runs at most `1 + retries.count` times, not once more at every restart.
@Suite struct CrashRetryTests {
    @Test func retriesAfterCrashesAreBounded() async throws {
        let engine = try testEngine("jobs:\n  - {id: crashy, command: 'true', retries: {count: 1, backoff: 1s}}\n")
        let storage = engine.storage
        func crashed(trigger: JSONValue?) throws -> Int64 {
            let build: JSONValue = trigger.map { ["trigger": $0] } ?? [:]
            let id = try storage.createBuild(jobID: "crashy", jobConfig: [:], buildConfig: build)
            try storage.startBuild(id)
            return id
        }
        let logger = Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() })
        let first = try crashed(trigger: nil)
        var report = try await CrashRecovery.run(engine: engine, storage: storage, logger: logger)
        let retry = try #require(report.retried.first { $0.0 == first }?.1)
        let retried = try #require(try storage.getBuild(retry))
        #expect(retried.config["build"]?["trigger"]?["attempt"] == 2)
        _ = try await engine.waitUntilFinished(retry)
        // The retry itself crashed: its retries are used up.
        let second = try crashed(trigger: ["kind": "retry", "after_crash_of": .int(first), "attempt": 2])
        report = try await CrashRecovery.run(engine: engine, storage: storage, logger: logger)
        #expect(report.failed == [second] && report.retried.isEmpty)
    }
}

@Suite struct RetryTests {
    @Test func failedAttemptsAreRetriedWithinTheSameBuild() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jc-retry-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let counter = directory.appendingPathComponent("n").path
        let config = try ConfigLoader.parse(
            yaml: """
                jobs:
                  - id: flaky
                    command: 'n=$(cat \(counter) 2>/dev/null || echo 0); n=$((n+1)); echo $n > \(counter); echo "try $n"; [ $n -ge 3 ]'
                    retries: {count: 3, backoff: 0.05s}
                  - id: hopeless
                    command: 'exit 2'
                    retries: {count: 1, backoff: 0.01s}
                """, file: "t.yaml")
        #expect(config.job("flaky")?.retry == RetryPolicy(count: 3, backoff: 0.05, maxBackoff: 600))
        #expect(RetryPolicy(count: 5, backoff: 10, maxBackoff: 30).delay(afterAttempt: 3) == 30)
        let storage = try StorageFactory.open(url: "sqlite::memory:")
        try storage.install()
        let engine = BuildEngine(
            config: config, storage: storage, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        let flaky = try await engine.waitUntilFinished(try await engine.run(jobID: "flaky").id)
        #expect(flaky.state == .successful)
        let lines = try storage.iterLogMessages(LogQuery(buildID: flaky.id)).map(\.message)
        #expect(lines.filter { $0.hasPrefix("try ") } == ["try 1", "try 2", "try 3"])
        #expect(lines.contains { $0.hasPrefix("attempt 2 failed: '/bin/sh' exited with status 1; retrying in") })
        let hopeless = try await engine.waitUntilFinished(try await engine.run(jobID: "hopeless").id)
        #expect(hopeless.state == .failed)
        let hopelessLines = try storage.iterLogMessages(LogQuery(buildID: hopeless.id)).map(\.message)
        #expect(hopelessLines.filter { $0.hasPrefix("attempt") && $0.contains(" failed: ") }.count == 1)
        // Each retry says it starts (crash recovery counts those).
        #expect(hopelessLines.filter { $0.hasPrefix("attempt") && $0.hasSuffix(" starts") } == ["attempt 2 starts"])
    }

    /// A command build hands its worker back as soon as its command has ended; one that may be
    /// retried keeps it through its retry delay, so a build queued behind it on the only worker
    /// starts only after its last attempt.
    @Test func aRetryingBuildKeepsItsWorkerBetweenAttempts() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jc-retry-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let counter = directory.appendingPathComponent("n").path
        let engine = try testEngine(
            """
            workers: 1
            jobs:
              - id: flaky
                command: 'n=$(cat \(counter) 2>/dev/null || echo 0); n=$((n+1)); echo $n > \(counter); [ $n -ge 2 ]'
                retries: {count: 1, backoff: 0.3s}
              - {id: next, command: 'true'}
            """)
        let flaky = try await engine.run(jobID: "flaky")
        let next = try await engine.run(jobID: "next")
        let first = try await engine.waitUntilFinished(flaky.id)
        let second = try await engine.waitUntilFinished(next.id)
        #expect(first.state == .successful)
        let firstEnd = try #require(first.endTime)
        let secondStart = try #require(second.startTime)
        #expect(secondStart >= firstEnd, "the queued build started during the retry delay")
    }

    /// A function registered in place of `jobcontrol:exec` may run several commands: its builds
    /// keep their worker until the function returns, as other registered functions' builds do.
    @Test func aReplacedExecKeepsItsWorkerUntilItReturns() async throws {
        var registry = FunctionRegistry.builtins
        let builtin = try #require(registry.function(FunctionRegistry.exec))
        registry.register(FunctionRegistry.exec) { context, args, kwargs in
            _ = try await builtin(context, args, kwargs)
            return try await builtin(context, args, kwargs)
        }
        let engine = try testEngine(
            """
            workers: 1
            jobs:
              - {id: twice, command: [sleep, '0.3']}
              - {id: next, command: 'true'}
            """, registry: registry)
        let twice = try await engine.run(jobID: "twice")
        let next = try await engine.run(jobID: "next")
        let first = try await engine.waitUntilFinished(twice.id)
        let second = try await engine.waitUntilFinished(next.id)
        let start = try #require(first.startTime)
        let end = try #require(first.endTime)
        #expect(end.timeIntervalSince(start) >= 0.6, "the end was recorded when the first of its two commands ended")
        #expect(try #require(second.startTime) >= end)
    }
}

@Suite struct TimeoutTests {
    /// A timeout that fires after the command has ended on its own (it handed its worker back,
    /// which is the build's recorded end) leaves the build to finish with the command's outcome.
    @Test func aTimeoutAfterTheCommandEndedDoesNotStopTheBuild() async throws {
        let timerFired = Mutex(false)
        let value = try await BuildEngine.withTimeout(
            0.05,
            commandEnded: {
                timerFired.withLock { $0 = true }
                return true
            }
        ) {
            // Still assembling its result when the timer fires.
            let deadline = ContinuousClock.now + .seconds(30)
            while !timerFired.withLock({ $0 }), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            return .int(7)
        }
        #expect(value == .int(7))
        await #expect(throws: BuildException.self) {
            try await BuildEngine.withTimeout(0.05, commandEnded: { false }) {
                try await Task.sleep(for: .seconds(30))
                return nil
            }
        }
    }
}
