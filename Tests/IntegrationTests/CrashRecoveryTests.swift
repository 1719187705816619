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
        // The orphans were stopped; the crashed build failed and its retry runs.
        #expect(ProcessGroups.members(group: group, startTicks: orphan.processStartTicks!).isEmpty)
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
