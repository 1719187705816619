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
            command: 'for i in 1 2 3 4 5 6 7 8 9 10; do jobctl log "line $i"; sleep 0.02; done'
        """

    @Test func sigkillDuringFiftyBuildsLosesNothing() async throws {
        var daemon = try await DaemonProcess(config: Self.config)
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
        #expect(!ProcessGroups.members(group: group, startTicks: orphan.processStartTicks!).isEmpty, "orphans survive the crash")

        daemon = try await DaemonProcess(directory: daemon.directory)
        try await waitFor("every talk build to end", timeout: .seconds(120)) {
            ((try? storage.unfinishedBuilds()) ?? []).allSatisfy { $0.build.jobID != "talk" }
        }
        // The orphans were stopped; the crashed build failed and its retry runs.
        #expect(ProcessGroups.members(group: group, startTicks: orphan.processStartTicks!).isEmpty)
        let crashed = try #require(try storage.getBuild(orphan.build.id))
        #expect(crashed.exception?["type"] == "DaemonRestarted")
        let makers = try storage.getJobBuilds(jobID: "orphan-maker", filter: BuildFilter(), order: .ascending, limit: 10)
        #expect(makers.count == 2)
        #expect(makers.last?.config["build"]?["trigger"]?["after_crash_of"]?.intValue == orphan.build.id)
        if let retry = makers.last, !retry.finished { _ = try await daemon.jobctl("cancel", String(retry.id)) }

        // Every talk build ended; none lost an acknowledged line.
        let talks = try storage.getJobBuilds(jobID: "talk", filter: BuildFilter(), order: .ascending, limit: 100)
        #expect(talks.count == 50)
        var successful = 0
        for build in talks {
            #expect(build.finished)
            let lines = try storage.iterLogMessages(LogQuery(buildID: build.id)).map(\.message).filter { $0.hasPrefix("line ") }
            let expected = (0..<lines.count).map { "line \($0 + 1)" }
            #expect(lines == Array(expected.prefix(lines.count)), "build \(build.id): \(lines)")
            if build.state == .successful {
                successful += 1
                #expect(lines.count == 10, "build \(build.id) succeeded with \(lines.count) lines")
            } else {
                #expect(build.exception?["type"] == "DaemonRestarted", "build \(build.id): \(build.exception ?? .null)")
            }
        }
        #expect(successful >= 40, "queued builds ran after the restart")
        try await daemon.stop()
    }
}
