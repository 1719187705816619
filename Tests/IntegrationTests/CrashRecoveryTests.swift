import Foundation
import JobControl
import Testing

/// SIGKILL in the middle of fifty builds, then a restart: every build reaches a final state, no
/// acknowledged log line is lost, orphaned processes are stopped, and a job with retries is
/// retried.
@Suite struct CrashRecoveryTests {
    static let config = """
        workers: 4
        jobs:
          - id: orphan-maker
            command: 'sleep 300 & sleep 300'
            retries: {count: 1, backoff: 1s}
          - id: talk
            command: 'for i in 1 2 3 4 5 6 7 8 9 10; do jobctl log "line $i" && echo "$JOBCONTROL_BUILD_ID line $i" >> "$ACKNOWLEDGED"; sleep 0.02; done'
        """

    /// The daemon dies after a build's start is committed and before its cgroup is recorded
    /// (the record is written after the spawn): recovery finds the cgroup by name in the dead
    /// daemon's subtree and stops what runs there (it ran on for good, and the build said its
    /// processes were stopped). The window is made here by removing the record after the kill.
    @Test func aBuildWhoseCgroupWasNeverRecordedIsStoppedToo() async throws {
        var daemon = try await DaemonProcess(
            config: "jobs:\n  - {id: sleeper, command: 'sleep 300 & sleep 300'}\n")
        let storage = try StorageFactory.open(url: "sqlite://" + daemon.database)
        #expect(try await daemon.jobctl("run", "sleeper").status == 0)
        try await waitFor("the build's cgroup recorded") {
            ((try? storage.unfinishedBuilds()) ?? []).contains { $0.cgroup != nil }
        }
        let entry = try #require(try storage.unfinishedBuilds().first)
        let cgroup = try #require(entry.cgroup?.first)
        var pids: [SeenProcess] = []
        try await waitFor("both sleeps in the cgroup") {
            pids = ((try? String(contentsOfFile: cgroup + "/cgroup.procs", encoding: .utf8)) ?? "")
                .split(separator: "\n").compactMap { pid_t($0).flatMap(SeenProcess.init) }
            return pids.count >= 2
        }
        defer { for process in pids { process.kill() } }
        daemon.kill()
        let forget = try await runProcess(
            "/usr/bin/env",
            [
                "python3", "-c",
                "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('UPDATE build SET process_group = NULL, process_start = NULL, cgroup = NULL WHERE id = ?', (int(sys.argv[2]),)); c.commit()",
                daemon.database, "\(entry.build.id)",
            ])
        #expect(forget.status == 0, "\(forget.stderr)")
        #expect(try storage.unfinishedBuilds().first?.cgroup == nil)
        #expect(pids.allSatisfy { $0.isRunning }, "the command outlives the daemon")

        daemon = try await DaemonProcess(directory: daemon.directory)
        try await waitFor("the build to end") { (try? storage.getBuild(entry.build.id))??.finished == true }
        try await waitFor("the unrecorded build's processes to be stopped", timeout: .seconds(30)) {
            pids.allSatisfy { !$0.isRunning }
        }
        #expect(try storage.getBuild(entry.build.id)?.exception?["type"] == "DaemonRestarted")
        try await daemon.stop()
    }

    /// Without cgroups, a command that daemonized (`setsid`: a session and process group of its
    /// own) escaped crash recovery, which stopped only the build's recorded process group: it ran
    /// on for good. It still carries its build's environment, and is found and stopped by it.
    @Test func aProcessThatLeftItsGroupIsStoppedAfterACrash() async throws {
        var daemon = try await DaemonProcess(
            config: "containment: process-group\njobs:\n  - {id: escaper, command: 'setsid -f sleep 300; sleep 300'}\n")
        let storage = try StorageFactory.open(url: "sqlite://" + daemon.database)
        #expect(try await daemon.jobctl("run", "escaper").status == 0)
        // The build's processes, by the environment it gave them.
        func carriers() -> [pid_t] {
            let marker = ["JOBCONTROL_BUILD_ID=1", "JOBCONTROL_SOCKET=\(daemon.socket)"]
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            return entries.compactMap { pid_t($0) }.filter { pid in
                guard let environment = FileManager.default.contents(atPath: "/proc/\(pid)/environ"),
                    let state = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                    !state.split(separator: ")").last!.hasPrefix(" Z")
                else { return false }
                let entries = environment.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
                return marker.allSatisfy(entries.contains)
            }
        }
        var escaped: [SeenProcess] = []
        try await waitFor("the daemonized sleep, in a session of its own") {
            escaped = carriers().filter { getsid($0) == $0 }.compactMap(SeenProcess.init)
            return !escaped.isEmpty
        }
        defer { for process in escaped { process.kill() } }
        daemon.kill()
        daemon = try await DaemonProcess(directory: daemon.directory)
        try await waitFor("the build to end") { (try? storage.getBuild(1))??.finished == true }
        try await waitFor("the daemonized sleep to be stopped", timeout: .seconds(30)) {
            escaped.allSatisfy { !$0.isRunning } && carriers().isEmpty
        }
        #expect(try storage.getBuild(1)?.exception?["type"] == "DaemonRestarted")
        try await daemon.stop()
    }

    /// A build with `retries` that a crash interrupts in its second attempt (which waits for
    /// it, however late the kill comes): the attempts it made count, and the build that replaces
    /// it goes on from them, so the job runs `1 + count` times in all (recovery counted only replaced builds, and the replacement began its own
    /// attempts from 1: five runs here).
    @Test func attemptsBeforeACrashCountAgainstRetries() async throws {
        let side = try TemporaryDirectory()
        let runs = side.file("runs")
        var daemon = try await DaemonProcess(
            config: """
                jobs:
                  - id: flaky
                    command: 'echo start >> "$RUNS"; if [ "$(wc -l < "$RUNS")" -eq 2 ]; then sleep 300; fi; exit 1'
                    retries: {count: 2, backoff: 1s}
                """, environment: ["RUNS": runs])
        let storage = try StorageFactory.open(url: "sqlite://" + daemon.database)
        #expect(try await daemon.jobctl("run", "flaky").status == 0)
        func started() -> Int {
            ((try? String(contentsOfFile: runs, encoding: .utf8)) ?? "").split(separator: "\n").count
        }
        try await waitFor("the second attempt, after the first one's failure is stored", timeout: .seconds(30)) {
            let failed = ((try? storage.iterLogMessages(LogQuery(buildID: 1))) ?? []).contains {
                $0.message.hasPrefix("attempt 1 failed")
            }
            return failed && started() == 2
        }
        daemon.kill()
        daemon = try await DaemonProcess(directory: daemon.directory, environment: ["RUNS": runs])
        try await waitFor("every build of flaky to end", timeout: .seconds(60)) {
            let builds =
                (try? storage.getJobBuilds(jobID: "flaky", filter: BuildFilter(), order: .ascending, limit: 10))
            return builds.map { $0.count >= 2 && $0.allSatisfy(\.finished) } ?? false
        }
        #expect(started() == 3, "runs: \(started())")
        let builds = try storage.getJobBuilds(jobID: "flaky", filter: BuildFilter(), order: .ascending, limit: 10)
        #expect(builds.count == 2)
        #expect(builds.last?.config["build"]?["trigger"]?["attempt"] == 3)
        try await daemon.stop()
    }

    /// A crash during the wait before a retry: the retry had not begun, so the replacement
    /// build is that retry (counting failures took it for used, and the job never ran again).
    @Test func aCrashBeforeARetryBeganLeavesTheRetry() async throws {
        let side = try TemporaryDirectory()
        let runs = side.file("runs")
        var daemon = try await DaemonProcess(
            config: """
                jobs:
                  - id: second-time-lucky
                    command: 'n=$(cat "$RUNS" 2>/dev/null | wc -l); echo start >> "$RUNS"; [ "$n" -ge 1 ]'
                    retries: {count: 1, backoff: 60s}
                """, environment: ["RUNS": runs])
        let storage = try StorageFactory.open(url: "sqlite://" + daemon.database)
        #expect(try await daemon.jobctl("run", "second-time-lucky").status == 0)
        try await waitFor("the first attempt's failure, stored", timeout: .seconds(30)) {
            ((try? storage.iterLogMessages(LogQuery(buildID: 1))) ?? []).contains {
                $0.message.hasPrefix("attempt 1 failed")
            }
        }
        daemon.kill()
        daemon = try await DaemonProcess(directory: daemon.directory, environment: ["RUNS": runs])
        try await waitFor("the replacement to succeed", timeout: .seconds(60)) {
            let builds = try? storage.getJobBuilds(
                jobID: "second-time-lucky", filter: BuildFilter(), order: .ascending, limit: 10)
            return builds.map { $0.count == 2 && $0.allSatisfy(\.finished) } ?? false
        }
        let builds = try storage.getJobBuilds(
            jobID: "second-time-lucky", filter: BuildFilter(), order: .ascending, limit: 10)
        #expect(builds.last?.success == true && builds.last?.config["build"]?["trigger"]?["attempt"] == 2)
        try await daemon.stop()
    }

    /// A second daemon reaching the database through a symbolic link (of the file, or of a
    /// directory above it) is refused like one on the same path: it recovered the first one's
    /// running builds as crashed and killed them.
    @Test func aDatabaseReachedThroughASymlinkIsLockedOnce() throws {
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.file("real"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: directory.file("alias"), withDestinationPath: directory.file("real"))
        let first = try DatabaseLock.acquire(storageURL: "sqlite://" + directory.file("real/db.sqlite3"))
        #expect(first != nil)
        #expect(throws: StorageError.self) {
            _ = try DatabaseLock.acquire(storageURL: "sqlite://" + directory.file("alias/db.sqlite3"))
        }
        #expect(FileManager.default.createFile(atPath: directory.file("real/db.sqlite3"), contents: Data()))
        try FileManager.default.createSymbolicLink(
            atPath: directory.file("link.sqlite3"), withDestinationPath: directory.file("real/db.sqlite3"))
        #expect(throws: StorageError.self) {
            _ = try DatabaseLock.acquire(storageURL: "sqlite://" + directory.file("link.sqlite3"))
        }
        withExtendedLifetime(first) {}
    }

    @Test func sigkillDuringFiftyBuildsLosesNothing() async throws {
        // Each line the daemon acknowledged (`jobctl log` exited 0) is written to a side file by
        // the command itself: the oracle of what must survive the crash.
        let side = try TemporaryDirectory()
        let acknowledgedFile = side.file("acknowledged")
        let environment = ["ACKNOWLEDGED": acknowledgedFile]
        var daemon = try await DaemonProcess(config: Self.config, environment: environment)
        let storage = try StorageFactory.open(url: "sqlite://" + daemon.database)
        #expect(try await daemon.jobctl("run", "orphan-maker").status == 0)
        for _ in 0..<50 { #expect(try await daemon.jobctl("run", "talk").status == 0) }

        // Crash once the orphan-maker's process group is recorded and talk builds are running.
        try await waitFor("running builds") {
            let unfinished = (try? storage.unfinishedBuilds()) ?? []
            return unfinished.contains { $0.build.jobID == "orphan-maker" && $0.processGroup != nil }
                && unfinished.filter { $0.build.jobID == "talk" && $0.build.started }.count >= 2
        }
        let orphan = try #require(try storage.unfinishedBuilds().first { $0.build.jobID == "orphan-maker" })
        let group = try #require(orphan.processGroup)
        daemon.kill()
        #expect(
            !ProcessGroups.members(group: group, startTicks: orphan.processStartTicks!).isEmpty,
            "orphans survive the crash")
        // What the crash interrupted, read while nothing writes: these must end DaemonRestarted.
        let interrupted = Set(
            try storage.unfinishedBuilds().filter { $0.build.jobID == "talk" && $0.build.started }.map(\.build.id))
        #expect(!interrupted.isEmpty)

        daemon = try await DaemonProcess(directory: daemon.directory, environment: environment)
        try await waitFor("every talk build to end", timeout: .seconds(120)) {
            ((try? storage.unfinishedBuilds()) ?? []).allSatisfy { $0.build.jobID != "talk" }
        }
        // The orphans were stopped (zombies, until init reaps them, have ended); the crashed build
        // failed and its retry runs.
        #expect(
            ProcessGroups.members(group: group, startTicks: orphan.processStartTicks!).allSatisfy(
                ContainmentTests.isGone))
        let crashed = try #require(try storage.getBuild(orphan.build.id))
        #expect(crashed.exception?["type"] == "DaemonRestarted")
        let makers = try storage.getJobBuilds(
            jobID: "orphan-maker", filter: BuildFilter(), order: .ascending, limit: 10)
        #expect(makers.count == 2)
        #expect(makers.last?.config["build"]?["trigger"]?["after_crash_of"]?.intValue == orphan.build.id)
        if let retry = makers.last, !retry.finished { _ = try await daemon.jobctl("cancel", String(retry.id)) }

        // Every talk build ended: those the crash interrupted as DaemonRestarted, every other one
        // successful with its ten lines; and every acknowledged line of every build is stored.
        let acknowledged = ((try? String(contentsOfFile: acknowledgedFile, encoding: .utf8)) ?? "")
            .split(separator: "\n").reduce(into: [Int64: [String]]()) { lines, entry in
                let parts = entry.split(separator: " ", maxSplits: 1)
                if parts.count == 2, let id = Int64(parts[0]) { lines[id, default: []].append(String(parts[1])) }
            }
        #expect(acknowledged.values.map(\.count).reduce(0, +) >= 400, "the side file saw the acknowledgements")
        let talks = try storage.getJobBuilds(jobID: "talk", filter: BuildFilter(), order: .ascending, limit: 100)
        #expect(talks.count == 50)
        for build in talks {
            #expect(build.finished)
            let lines = try storage.iterLogMessages(LogQuery(buildID: build.id)).map(\.message).filter {
                $0.hasPrefix("line ")
            }
            let mustHave = acknowledged[build.id] ?? []
            #expect(
                Array(lines.prefix(mustHave.count)) == mustHave,
                "build \(build.id) lost acknowledged lines: stored \(lines), acknowledged \(mustHave)")
            if interrupted.contains(build.id) {
                #expect(build.exception?["type"] == "DaemonRestarted", "build \(build.id): \(build.exception ?? .null)")
                #expect(lines.count >= mustHave.count && lines.count <= 10)
            } else {
                #expect(
                    build.state == .successful, "build \(build.id) was not interrupted: \(build.exception ?? .null)")
                #expect(lines == (1...10).map { "line \($0)" }, "build \(build.id): \(lines)")
            }
        }
        try await daemon.stop()
    }
}
