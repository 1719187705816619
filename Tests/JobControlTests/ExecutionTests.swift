import Foundation
import Logging
import Synchronization
import Testing

@testable import JobControl

@Suite struct LineSplitterTests {
    @Test func splitsOnNewlinesAndDropsCarriageReturns() {
        var splitter = LineSplitter()
        #expect(splitter.feed(Array("a\nb\r\nc".utf8)) == ["a", "b"])
        #expect(splitter.feed(Array("d\n".utf8)) == ["cd"])
        #expect(splitter.finish() == nil)
        _ = splitter.feed(Array("tail".utf8))
        #expect(splitter.finish() == "tail")
    }

    @Test func cutsOverlongLinesAndReplacesInvalidUTF8() {
        var splitter = LineSplitter(maxLineBytes: 4)
        #expect(splitter.feed(Array("abcdefghi\n".utf8)) == ["abcd", "efgh", "i"])
        #expect(splitter.feed([0xFF, 0x41, 0x0A]) == ["\u{FFFD}A"])
    }
}

@Suite struct WorkerPoolTests {
    @Test func neverRunsMoreThanTheLimit() async {
        let pool = WorkerPool(limit: 3)
        let state = Mutex((running: 0, peak: 0))
        let (done, continuation) = AsyncStream<Void>.makeStream()
        for _ in 0..<20 {
            pool.submit {
                state.withLock { $0.running += 1; $0.peak = max($0.peak, $0.running) }
                try? await Task.sleep(for: .milliseconds(5))
                state.withLock { $0.running -= 1 }
                continuation.yield()
            }
        }
        var finished = 0
        for await _ in done {
            finished += 1
            if finished == 20 { break }
        }
        #expect(state.withLock { $0.peak } <= 3)
        #expect(state.withLock { $0.peak } >= 2)
    }
}

@Suite struct BuildEngineTests {
    func engine(_ yaml: String) throws -> BuildEngine {
        let config = try ConfigLoader.parse(yaml: yaml, file: "test.yaml")
        let storage = try StorageFactory.open(url: "sqlite::memory:")
        try storage.install()
        return BuildEngine(config: config, storage: storage, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    @Test func commandOutputBecomesLogRecords() async throws {
        let engine = try engine("jobs:\n  - {id: a, command: 'echo out; echo err >&2; echo \"id=$JOBCONTROL_BUILD_ID job=$JOBCONTROL_JOB_ID $1\"', args: [arg1]}\n")
        let created = try await engine.run(jobID: "a")
        let build = try await engine.waitUntilFinished(created.id)
        #expect(build.state == .successful)
        let logs = try engine.storage.iterLogMessages(LogQuery(buildID: build.id))
        #expect(logs.contains { $0.message == "out" && $0.level == LogLevel.info.rawValue && $0.logger == "stdout" })
        #expect(logs.contains { $0.message == "err" && $0.level == LogLevel.warning.rawValue && $0.logger == "stderr" })
        #expect(logs.contains { $0.message == "id=\(build.id) job=a arg1" })
    }

    @Test func exitStatusDecidesAndFailureIsStored() async throws {
        let engine = try engine("jobs:\n  - {id: a, command: 'echo bad >&2; exit 7'}\n")
        let build = try await engine.waitUntilFinished(try await engine.run(jobID: "a").id)
        #expect(build.state == .failed)
        #expect(build.exception?["type"] == "CommandFailed")
        #expect(build.exception?["exit_status"] == 7)
        #expect(build.exception?["stderr_tail"] == ["bad"])
        let traceback = TracebackInfo(json: try #require(build.exceptionTraceback))
        #expect(traceback.frames.first?.filename == "/bin/sh")
        #expect(traceback.frames.first?.line == "/bin/sh -c 'echo bad >&2; exit 7' sh")
        #expect(traceback.frames.first?.context == ["bad"])
        #expect(traceback.frames.first?.locals["exit_status"] == "7")
    }

    @Test func spawnFailureIsAFailedBuildNotACrash() async throws {
        let engine = try engine("jobs:\n  - {id: a, command: [/nonexistent/program, x]}\n  - {id: b, command: [no-such-program-xyz]}\n")
        for job in ["a", "b"] {
            let build = try await engine.waitUntilFinished(try await engine.run(jobID: job).id)
            #expect(build.state == .failed)
            #expect(build.exception?["type"] == "SpawnFailed")
        }
    }

    @Test func signalIsReported() async throws {
        let engine = try engine("jobs:\n  - {id: a, command: 'kill -TERM $$'}\n")
        let build = try await engine.waitUntilFinished(try await engine.run(jobID: "a").id)
        #expect(build.exception?["type"] == "CommandKilled")
        #expect(build.exception?["signal"] == .int(Int64(SIGTERM)))
    }

    @Test func dependenciesArePinnedAndRetvalsResolved() async throws {
        var registry = FunctionRegistry.builtins
        registry.register("test:answer") { _, args, _ in .object(["answer": args.first ?? .null]) }
        registry.register("test:echo") { _, args, kwargs in .array(args + [.object(kwargs)]) }
        let config = try ConfigLoader.parse(
            yaml: """
                jobs:
                  - {id: dep, function: 'test:answer', args: [42]}
                  - {id: top, function: 'test:echo', dependencies: [dep], args: [!retval dep], kwargs: {k: !retval dep}}
                """, file: "t.yaml", registry: registry)
        let storage = try StorageFactory.open(url: "sqlite::memory:")
        try storage.install()
        let engine = BuildEngine(config: config, storage: storage, registry: registry, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        await #expect(throws: EngineError.self) { try await engine.run(jobID: "top") }
        #expect(try storage.getJobBuilds(jobID: "top", filter: BuildFilter(), order: .ascending, limit: 5).isEmpty)
        let dep = try await engine.waitUntilFinished(try await engine.run(jobID: "dep").id)
        #expect(dep.retval == ["answer": 42])
        let top = try await engine.waitUntilFinished(try await engine.run(jobID: "top").id)
        #expect(top.config["build"]?["dependency_builds"]?["dep"] == .int(dep.id))
        #expect(top.retval == [["answer": 42], ["k": ["answer": 42]]])
    }

    @Test func unknownJobIsRefused() async throws {
        let engine = try engine("jobs: []\n")
        await #expect(throws: EngineError.self) { try await engine.run(jobID: "nope") }
    }
}

@Suite struct ExecutionSettingsTests {
    func engine(_ yaml: String) throws -> BuildEngine {
        let config = try ConfigLoader.parse(yaml: yaml, file: "test.yaml")
        let storage = try StorageFactory.open(url: "sqlite::memory:")
        try storage.install()
        return BuildEngine(config: config, storage: storage, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    @Test func environmentWorkingDirectoryAndUserReachTheCommand() async throws {
        let engine = try engine("""
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

    @Test func secretsAreInjectedButNeverStored() async throws {
        let engine = try engine("""
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
        for text in [build.config.jsonText(), build.exception?.jsonText() ?? "", build.exceptionTraceback?.jsonText() ?? ""] + lines {
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
        let config = try ConfigLoader.parse(yaml: yaml, file: "test.yaml")
        let storage = try StorageFactory.open(url: "sqlite::memory:")
        try storage.install()
        return BuildEngine(config: config, storage: storage, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
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
        let engine = try engine("""
            jobs:
              - id: stubborn
                timeout: 1s
                command: "trap '' TERM; (trap '' TERM; sleep \(marker)) & sleep \(marker); echo never"
            """)
        let started = ContinuousClock.now
        let build = try await engine.waitUntilFinished(try await engine.run(jobID: "stubborn").id)
        #expect(build.state == .failed)
        #expect(build.exception?["type"] == "Timeout")
        #expect(ContinuousClock.now - started < .seconds(30))
        #expect(Self.processes(containing: marker) == [])
    }

    @Test func poolLimitsAreNeverExceeded() async throws {
        let engine = try engine("""
            workers: 4
            pools: {db: {workers: 1}}
            jobs:
              - {id: pooled, pool: db, command: 'sleep 0.2'}
              - {id: free, command: 'sleep 0.2'}
            """)
        var ids: [Int64] = []
        for job in ["pooled", "pooled", "pooled", "free", "free"] { ids.append(try await engine.run(jobID: job).id) }
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
            try ConfigLoader.parse(yaml: "pools: {db: {workers: 1}}\njobs:\n  - {id: a, command: x, pool: dbb}\n", file: "t.yaml")
        }
        #expect(throws: ConfigError.self) { try ConfigLoader.parse(yaml: "pools: {db: {}}\n", file: "t.yaml") }
        #expect(throws: ConfigError.self) { try ConfigLoader.parse(yaml: "jobs:\n  - {id: a, command: x, timeout: soon}\n", file: "t.yaml") }
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
        let engine = BuildEngine(config: config, storage: storage, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
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
        #expect(try storage.iterLogMessages(LogQuery(buildID: queued.id)).allSatisfy { !$0.message.contains("should not run") })
        #expect(ExecutionControlTests.processes(containing: marker) == [])
        await #expect(throws: EngineError.self) { try await engine.cancel(buildID: long.id) }
    }

    func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

@Suite struct PinningTests {
    @Test func pinningAnOlderBuildReproducesItsInputs() async throws {
        var registry = FunctionRegistry.builtins
        registry.register("test:own-id") { context, _, _ in .int(context.buildID) }
        registry.register("test:echo") { _, args, _ in .array(args) }
        let config = try ConfigLoader.parse(
            yaml: """
                jobs:
                  - {id: dep, function: 'test:own-id'}
                  - {id: other, function: 'test:own-id'}
                  - {id: top, function: 'test:echo', dependencies: [dep], args: [!retval dep]}
                """, file: "t.yaml", registry: registry)
        let storage = try StorageFactory.open(url: "sqlite::memory:")
        try storage.install()
        let engine = BuildEngine(config: config, storage: storage, registry: registry, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        let older = try await engine.waitUntilFinished(try await engine.run(jobID: "dep").id)
        let newer = try await engine.waitUntilFinished(try await engine.run(jobID: "dep").id)
        let other = try await engine.waitUntilFinished(try await engine.run(jobID: "other").id)
        let latest = try await engine.waitUntilFinished(try await engine.run(jobID: "top").id)
        #expect(latest.retval == [.int(newer.id)])
        let pinned = try await engine.waitUntilFinished(try await engine.run(jobID: "top", pins: ["dep": older.id]).id)
        #expect(pinned.retval == [.int(older.id)])
        #expect(pinned.config["build"]?["dependency_builds"]?["dep"] == .int(older.id))
        await #expect(throws: EngineError.self) { try await engine.run(jobID: "top", pins: ["dep": other.id]) }
        await #expect(throws: EngineError.self) { try await engine.run(jobID: "top", pins: ["other": other.id]) }
        await #expect(throws: EngineError.self) { try await engine.run(jobID: "top", pins: ["dep": 9999]) }
    }
}

@Suite struct BuildDependenciesTests {
    static let diamond = """
        workers: 4
        jobs:
          - {id: a, command: 'sleep 0.1'}
          - {id: b, command: 'sleep 0.3', dependencies: [a]}
          - {id: c, command: 'sleep 0.3', dependencies: [a]}
          - {id: d, command: 'echo d', dependencies: [b, c]}
          - {id: bad, command: 'exit 9', dependencies: [a]}
          - {id: e, command: 'echo e', dependencies: [bad, b]}
          - {id: f, command: 'echo f', dependencies: [e]}
        """

    func engine() throws -> BuildEngine {
        let config = try ConfigLoader.parse(yaml: Self.diamond, file: "t.yaml")
        let storage = try StorageFactory.open(url: "sqlite::memory:")
        try storage.install()
        return BuildEngine(config: config, storage: storage, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    func builds(_ engine: BuildEngine, _ job: String) throws -> [Build] {
        try engine.storage.getJobBuilds(jobID: job, filter: BuildFilter(), order: .ascending, limit: 100)
    }

    @Test func aDiamondIsBuiltOnceEachIndependentOnesTogether() async throws {
        let engine = try engine()
        #expect(try await engine.dependencyPlan(for: "d") == ["a", "b", "c"])
        let target = try await engine.runBuildingDependencies(jobID: "d", force: false) { _ in }
        let d = try await engine.waitUntilFinished(target.id)
        #expect(d.state == .successful)
        for job in ["a", "b", "c"] { #expect(try builds(engine, job).count == 1, "\(job) built once") }
        let b = try builds(engine, "b")[0], c = try builds(engine, "c")[0], a = try builds(engine, "a")[0]
        // b and c ran at the same time, both after a.
        #expect(b.startTime! < c.endTime! && c.startTime! < b.endTime!)
        #expect(b.startTime! >= a.endTime! && c.startTime! >= a.endTime!)
        #expect(d.config["build"]?["dependency_builds"] == ["b": .int(b.id), "c": .int(c.id)])

        // Up to date: nothing to build first.
        #expect(try await engine.dependencyPlan(for: "d") == [])
        // A newer build of a makes b and c outdated.
        _ = try await engine.waitUntilFinished(try await engine.run(jobID: "a").id)
        #expect(try await engine.dependencyPlan(for: "d") == ["b", "c"])
    }

    @Test func aFailedDependencyStopsItsDependentsAndRecordsThem() async throws {
        let engine = try engine()
        do {
            _ = try await engine.runBuildingDependencies(jobID: "f", force: false) { _ in }
            Issue.record("expected DependencyFailed")
        } catch {
            guard case .dependencyFailed(let job, let dependency, _) = error else { throw error }
            #expect(job == "f" && dependency == "bad")
        }
        for job in ["e", "f"] {
            let recorded = try #require(try builds(engine, job).first)
            #expect(recorded.state == .failed && !recorded.started)
            #expect(recorded.exception?["type"] == "DependencyFailed")
        }
    }
}

@Suite struct JobStatusTests {
    @Test func statusFollowsTheBuilds() async throws {
        let config = try ConfigLoader.parse(
            yaml: "jobs:\n  - {id: a, command: 'exit 0'}\n  - {id: b, command: 'true', dependencies: [a]}\n  - {id: f, command: 'exit 1'}\n",
            file: "t.yaml")
        let storage = try StorageFactory.open(url: "sqlite::memory:")
        try storage.install()
        let engine = BuildEngine(config: config, storage: storage, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        #expect(try await engine.status(of: "a").status == .notBuilt)
        _ = try await engine.waitUntilFinished(try await engine.run(jobID: "a").id)
        _ = try await engine.waitUntilFinished(try await engine.run(jobID: "b").id)
        _ = try await engine.waitUntilFinished(try await engine.run(jobID: "f").id)
        #expect(try await engine.status(of: "a").status == .success)
        #expect(try await engine.status(of: "b").status == .success)
        #expect(try await engine.status(of: "f").status == .failed)
        _ = try await engine.waitUntilFinished(try await engine.run(jobID: "a").id)
        #expect(try await engine.status(of: "b").status == .outdated)
        let running = try storage.createBuild(jobID: "a", jobConfig: [:], buildConfig: [:])
        try storage.startBuild(running)
        #expect(try await engine.status(of: "a").status == .running)
    }
}

@Suite struct ReverseDependenciesTests {
    @Test func dependentsAreBuiltAfterASuccessAndBlockedByAFailure() async throws {
        let config = try ConfigLoader.parse(yaml: BuildDependenciesTests.diamond, file: "t.yaml")
        let storage = try StorageFactory.open(url: "sqlite::memory:")
        try storage.install()
        let engine = BuildEngine(config: config, storage: storage, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        #expect(await engine.dependents(of: "a") == ["b", "c", "bad", "d", "e", "f"])
        _ = try await engine.waitUntilFinished(try await engine.run(jobID: "a").id)
        let made = try await engine.runDependents(of: "a", force: false) { _ in }
        let states = Dictionary(made.map { ($0.jobID, $0.state) }, uniquingKeysWith: { first, _ in first })
        #expect(states["b"] == .successful && states["c"] == .successful && states["d"] == .successful)
        #expect(states["bad"] == .failed)
        #expect(states["e"] == .failed && states["f"] == .failed)
        let e = try #require(made.first { $0.jobID == "e" })
        #expect(e.exception?["type"] == "DependencyFailed" && !e.started)
        #expect(made.filter { $0.jobID == "d" }.count == 1)
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
        let engine = BuildEngine(config: config, storage: storage, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        let flaky = try await engine.waitUntilFinished(try await engine.run(jobID: "flaky").id)
        #expect(flaky.state == .successful)
        let lines = try storage.iterLogMessages(LogQuery(buildID: flaky.id)).map(\.message)
        #expect(lines.filter { $0.hasPrefix("try ") } == ["try 1", "try 2", "try 3"])
        #expect(lines.contains { $0.hasPrefix("attempt 2 failed: '/bin/sh' exited with status 1; retrying in") })
        let hopeless = try await engine.waitUntilFinished(try await engine.run(jobID: "hopeless").id)
        #expect(hopeless.state == .failed)
        #expect(try storage.iterLogMessages(LogQuery(buildID: hopeless.id)).filter { $0.message.hasPrefix("attempt") }.count == 1)
    }
}

@Suite struct DeleteTests {
    @Test func deleteCallsTheCleanupFunctionAndKeepsTheBuildWhenItFails() async throws {
        let seen = Mutex<[Int64]>([])
        var registry = FunctionRegistry.builtins
        registry.register("test:cleanup") { _, args, _ in
            let id = args.first?["id"]?.intValue ?? -1
            seen.withLock { $0.append(id) }
            if args.first?["job_id"] == "refuses" { throw BuildException(type: "Busy", message: "files still in use") }
            return nil
        }
        let config = try ConfigLoader.parse(
            yaml: """
                jobs:
                  - {id: cleans, command: 'true', cleanup_function: 'test:cleanup'}
                  - {id: refuses, command: 'true', cleanup_function: 'test:cleanup'}
                  - {id: plain, command: 'sleep 5'}
                """, file: "t.yaml", registry: registry)
        let storage = try StorageFactory.open(url: "sqlite::memory:")
        try storage.install()
        let engine = BuildEngine(config: config, storage: storage, registry: registry, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        let cleans = try await engine.waitUntilFinished(try await engine.run(jobID: "cleans").id)
        let refuses = try await engine.waitUntilFinished(try await engine.run(jobID: "refuses").id)
        try await engine.delete(buildID: cleans.id)
        #expect(try storage.getBuild(cleans.id) == nil)
        await #expect(throws: EngineError.self) { try await engine.delete(buildID: refuses.id) }
        #expect(try storage.getBuild(refuses.id) != nil)
        #expect(seen.withLock { $0 } == [cleans.id, refuses.id])
        let running = try await engine.run(jobID: "plain")
        await #expect(throws: EngineError.self) { try await engine.delete(buildID: running.id) }
        try await engine.cancel(buildID: running.id)
        _ = try await engine.waitUntilFinished(running.id)
        try await engine.delete(buildID: running.id)
        #expect(throws: ConfigError.self) {
            try ConfigLoader.parse(yaml: "jobs:\n  - {id: a, command: x, cleanup_function: 'no:such'}\n", file: "t.yaml")
        }
    }
}

@Suite struct SwiftFunctionTests {
    @Test func aRegisteredFunctionReportsProgressLogsReturnsAndSkips() async throws {
        var registry = FunctionRegistry.builtins
        registry.register("reports:sum") { context, args, kwargs in
            let numbers = args.compactMap(\.intValue)
            for (index, _) in numbers.enumerated() {
                try context.progress(Int64(index + 1), of: Int64(numbers.count), group: "sum::numbers", status: "adding")
            }
            context.log(.info, "summed \(numbers.count) numbers", logger: "reports")
            if kwargs["skip"] == true { throw BuildSkipped("asked to skip") }
            return ["sum": .int(numbers.reduce(0, +))]
        }
        registry.register("reports:fail") { _, _, _ in
            struct ReportError: Error, CustomStringConvertible { var description: String { "no data for today" } }
            throw ReportError()
        }
        let config = try ConfigLoader.parse(
            yaml: """
                jobs:
                  - {id: sum, function: 'reports:sum', args: [1, 2, 3]}
                  - {id: skipper, function: 'reports:sum', args: [1], kwargs: {skip: true}}
                  - {id: failing, function: 'reports:fail'}
                """, file: "t.yaml", registry: registry)
        let storage = try StorageFactory.open(url: "sqlite::memory:")
        try storage.install()
        let engine = BuildEngine(config: config, storage: storage, registry: registry, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        let sum = try await engine.waitUntilFinished(try await engine.run(jobID: "sum").id)
        #expect(sum.state == .successful && sum.retval == ["sum": 6])
        let progress = try storage.getBuildProgressInfo(sum.id)
        #expect(progress.first { $0.group.name == "sum::numbers" }.map { ($0.current, $0.total) } ?? (0, 0) == (3, 3))
        #expect(try storage.iterLogMessages(LogQuery(buildID: sum.id)).contains { $0.logger == "reports" && $0.message == "summed 3 numbers" })
        let skipped = try await engine.waitUntilFinished(try await engine.run(jobID: "skipper").id)
        #expect(skipped.state == .skipped)
        let failing = try await engine.waitUntilFinished(try await engine.run(jobID: "failing").id)
        #expect(failing.state == .failed)
        #expect(failing.exception?["message"] == "no data for today")
        #expect(failing.exception?["type"]?.stringValue?.contains("ReportError") == true)
    }
}
