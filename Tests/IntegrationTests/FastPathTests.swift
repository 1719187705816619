import Foundation
import Testing

/// `jobctl`'s hottest commands skip ArgumentParser (`FastPath`); with `JOBCTL_NO_FAST_PATH=1`
/// ArgumentParser parses them. Every argument list here must give the same output, errors and
/// exit status both ways, whether the fast path takes it or hands it over.
@Suite struct FastPathTests {
    @Test func bothPathsAgree() async throws {
        let daemon = try await DaemonProcess(
            config: """
                jobs:
                  - id: idle
                    command: [true]
                  - id: broken
                    command: [false]
                  - id: after-broken
                    command: [true]
                    dependencies: [broken]
                  - id: nightly
                    command: [true]
                    schedule: '*-*-* 03:00:00'
                """)
        defer { daemon.kill() }
        let socket = daemon.socket
        let plainCases: [([String], [String: String])] = [
            (["status"], [:]),
            (["status", "--json"], [:]),
            (["--json", "status"], [:]),
            (["status", "extra"], [:]),
            (["status", "--bogus"], [:]),
            (["progress", "1", "2"], [:]),
            (["progress", "1", "2"], ["JOBCONTROL_TOKEN": "not-a-token"]),
            (["progress", "1", "2", "--group", "a::b", "--status", "half"], ["JOBCONTROL_TOKEN": "not-a-token"]),
            (["progress", "1", "2", "--group"], ["JOBCONTROL_TOKEN": "not-a-token"]),
            (["progress", "x", "2"], ["JOBCONTROL_TOKEN": "not-a-token"]),
            (["progress", "1", "2", "3"], ["JOBCONTROL_TOKEN": "not-a-token"]),
            (["log", "hello", "world"], [:]),
            (["log", "--level", "warning", "disk", "full"], ["JOBCONTROL_TOKEN": "not-a-token"]),
            (["log", "--level", "loud", "x"], ["JOBCONTROL_TOKEN": "not-a-token"]),
            (["log"], ["JOBCONTROL_TOKEN": "not-a-token"]),
            (["skip", "no", "data"], ["JOBCONTROL_TOKEN": "not-a-token"]),
            (["skip"], [:]),
            (["log", "--help"], [:]),
            (["status", "--force"], [:]),
            (["skip", "--force"], ["JOBCONTROL_TOKEN": "not-a-token"]),
            (["retval", "5"], [:]),
            (["retval", "5"], ["JOBCONTROL_TOKEN": "not-a-token"]),
            (["retval", "--json", "[1, 2]"], ["JOBCONTROL_TOKEN": "not-a-token"]),
            (["retval", "--json", "{bad"], ["JOBCONTROL_TOKEN": "not-a-token"]),
            (["retval", "5", "--json"], ["JOBCONTROL_TOKEN": "not-a-token"]),
            (["retval", "--json"], ["JOBCONTROL_TOKEN": "not-a-token"]),
            (["retval"], ["JOBCONTROL_TOKEN": "not-a-token"]),
            (["retval", "a", "b"], ["JOBCONTROL_TOKEN": "not-a-token"]),
            (["retval", "-5"], ["JOBCONTROL_TOKEN": "not-a-token"]),
            (["--json", "retval", "5"], ["JOBCONTROL_TOKEN": "not-a-token"]),
        ]
        // The read-only commands, before any build exists and again once builds have ended.
        let readCases: [([String], [String: String])] = [
            (["jobs"], [:]),
            (["--json", "jobs"], [:]),
            (["jobs", "extra"], [:]),
            (["builds"], [:]),
            (["builds", "idle", "--limit", "3"], [:]),
            (["builds", "--limit", "3", "--json"], [:]),
            (["builds", "--limit", "0"], [:]),
            (["builds", "--limit", "10001"], [:]),
            (["builds", "--limit", "x"], [:]),
            (["builds", "--limit"], [:]),
            (["builds", "a", "b"], [:]),
            (["build", "1"], [:]),
            (["build", "1", "--json"], [:]),
            (["build", "999999"], [:]),
            (["build", "x"], [:]),
            (["build", "+1"], [:]),
            (["build"], [:]),
            (["logs", "1"], [:]),
            (["logs", "1", "--level", "warning"], [:]),
            (["--json", "logs", "1"], [:]),
            (["logs", "1", "--level", "bogus"], [:]),
            (["logs", "x"], [:]),
            (["logs", "999999"], [:]),
            (["cancel", "999999"], [:]),
            (["cancel", "1"], [:]),
            (["cancel", "x"], [:]),
            (["cancel", "1", "--force"], [:]),
            (["delete", "999999"], [:]),
            (["delete", "x"], [:]),
            (["delete"], [:]),
            (["show", "idle"], [:]),
            (["show", "after-broken", "--json"], [:]),
            (["--json", "show", "nightly"], [:]),
            (["show", "nope"], [:]),
            (["show"], [:]),
            (["show", "idle", "nightly"], [:]),
            (["progress", "1"], [:]),
            (["progress", "1", "--json"], [:]),
            (["progress", "999999"], [:]),
            (["progress", "x"], [:]),
            (["progress", "1", "--group", "g"], [:]),
            (["progress", "1", "--watch"], [:]),
        ]
        // The schedule's commands: the time left to the next run may tick between the two.
        let scheduleCases: [([String], [String: String])] = [
            (["next"], [:]),
            (["next", "--json"], [:]),
            (["next", "nightly"], [:]),
            (["next", "nightly", "--count", "3"], [:]),
            (["next", "--count", "x"], [:]),
            (["next", "--count"], [:]),
            (["next", "idle"], [:]),
            (["next", "nope"], [:]),
            (["next", "nightly", "idle"], [:]),
            (["suspend", "nightly"], [:]),
            (["next", "nightly"], [:]),
            (["resume", "nightly"], [:]),
            (["resume", "nightly", "--json"], [:]),
            (["suspend", "nope"], [:]),
            (["suspend"], [:]),
            (["resume", "idle", "nightly"], [:]),
        ]
        // Each of these queues a build of its own on either path: ids and times differ.
        let runCases: [([String], [String: String])] = [
            (["run", "idle"], [:]),
            (["run", "idle", "--json"], [:]),
            (["--json", "run", "idle"], [:]),
            (["run", "idle", "--force", "--build-deps", "--build-revdeps"], [:]),
            (["run", "no-such-job"], [:]),
            (["run", "idle", "--force", "--force"], [:]),
            (["run"], [:]),
            (["run", "idle", "other"], [:]),
            (["run", "idle", "--wait"], [:]),
            (["run", "idle", "--wait", "--json"], [:]),
            (["run", "idle", "--wait", "--wait"], [:]),
            (["run", "broken", "--wait"], [:]),
            (["run", "after-broken", "--build-deps", "--wait"], [:]),
            (["--json", "run", "after-broken", "--build-deps", "--wait"], [:]),
            (["run", "no-such-job", "--wait"], [:]),
            (["run", "-p", "x=1", "idle"], [:]),
            (["run", "--bogus", "idle"], [:]),
        ]
        func compare(_ cases: [([String], [String: String])], numbersAside: Bool = false) async throws {
            func comparable(_ text: String) -> String {
                numbersAside ? text.replacing(/[0-9]+/, with: "N") : text
            }
            for (arguments, environment) in cases {
                let fast = try await runProcess(
                    Binaries.jobctl, ["--socket", socket] + arguments, environment: environment)
                let plain = try await runProcess(
                    Binaries.jobctl, ["--socket", socket] + arguments,
                    environment: environment.merging(["JOBCTL_NO_FAST_PATH": "1"]) { _, new in new })
                #expect(fast.status == plain.status, "\(arguments): \(fast.stderr) vs \(plain.stderr)")
                #expect(comparable(fast.stdout) == comparable(plain.stdout), "\(arguments)")
                #expect(comparable(fast.stderr) == comparable(plain.stderr), "\(arguments)")
            }
        }
        try await compare(plainCases)
        // The output format's `--json` before `retval` is not retval's own `--json TEXT` (it took
        // the value for JSON text, and called the daemon with it): refused as a usage error.
        let misplaced = try await runProcess(
            Binaries.jobctl, ["--socket", socket, "--json", "retval", "5"], environment: ["JOBCONTROL_TOKEN": "x"])
        #expect(misplaced.status == 64, "\(misplaced.stderr)")
        try await compare(readCases)
        try await compare(scheduleCases, numbersAside: true)
        try await compare(runCases, numbersAside: true)
        // Every `run` that queued a build queued one, on either path (the fast path never hands a
        // call it made over to ArgumentParser to make again): 8 cases × 2 paths.
        let deadline = Date().addingTimeInterval(30)
        var builds = try await daemon.jobctl("--json", "builds", "idle", "--limit", "100")
        while builds.stdout.contains("\"finished\" : false"), Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
            builds = try await daemon.jobctl("--json", "builds", "idle", "--limit", "100")
        }
        #expect(builds.stdout.components(separatedBy: "\"job_id\"").count - 1 == 16, "\(builds.stdout)")
        #expect(!builds.stdout.contains("\"finished\" : false"), "\(builds.stdout)")
        try await compare(readCases)
        // A waited build's final reply has its resource usage whether the wait began before its
        // end or after (it had it only when read back from storage).
        let waited = try await daemon.jobctl("--json", "run", "idle", "--wait")
        #expect(waited.stdout.contains("\"usage\" : {"), "\(waited.stdout)")
        // A delete deletes once, on either path: each path deletes a build of its own.
        let finished = try await daemon.jobctl("--json", "builds", "idle", "--limit", "2")
        let ids = finished.stdout.matches(of: /"id" : ([0-9]+)/).map { String($0.output.1) }
        try #require(ids.count == 2, "\(finished.stdout)")
        let fastDelete = try await runProcess(Binaries.jobctl, ["--socket", socket, "delete", ids[0]])
        let plainDelete = try await runProcess(
            Binaries.jobctl, ["--socket", socket, "delete", ids[1]], environment: ["JOBCTL_NO_FAST_PATH": "1"])
        #expect(fastDelete.status == 0 && plainDelete.status == 0, "\(fastDelete.stderr) \(plainDelete.stderr)")
        #expect(fastDelete.stdout.replacing(ids[0], with: "N") == plainDelete.stdout.replacing(ids[1], with: "N"))
        for id in ids {
            #expect(try await daemon.jobctl("build", id).status != 0, "build \(id) is gone")
        }
        // And the daemon still answers (the fast path is what builds' helpers take).
        let status = try await daemon.jobctl("status")
        #expect(status.status == 0 && status.stdout.contains("jobs: 4"), "\(status.stdout)")
    }
}
