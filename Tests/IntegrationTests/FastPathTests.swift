import Foundation
import Testing

/// `jobctl`'s hottest commands skip ArgumentParser (`FastPath`); with `JOBCTL_NO_FAST_PATH=1`
/// ArgumentParser parses them. Every argument list here must give the same output, errors and
/// exit status both ways, whether the fast path takes it or hands it over.
@Suite struct FastPathTests {
    @Test func bothPathsAgree() async throws {
        let daemon = try await DaemonProcess(config: "jobs:\n  - id: idle\n    command: [true]\n")
        defer { daemon.kill() }
        let socket = daemon.socket
        let cases: [([String], [String: String])] = [
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
            (["run", "idle"], [:]),
            (["run", "idle", "--json"], [:]),
            (["--json", "run", "idle"], [:]),
            (["run", "idle", "--force", "--build-deps", "--build-revdeps"], [:]),
            (["run", "no-such-job"], [:]),
            (["run", "idle", "--force", "--force"], [:]),
            (["run"], [:]),
            (["run", "idle", "other"], [:]),
            (["run", "idle", "--wait"], [:]),
            (["run", "-p", "x=1", "idle"], [:]),
            (["run", "--bogus", "idle"], [:]),
            (["status", "--force"], [:]),
            (["skip", "--force"], ["JOBCONTROL_TOKEN": "not-a-token"]),
        ]
        // Each `run` queues a build of its own: ids and times differ between the two.
        func comparable(_ text: String, _ arguments: [String]) -> String {
            guard arguments.contains("run") else { return text }
            return text.replacing(/[0-9]+/, with: "N")
        }
        for (arguments, environment) in cases {
            let fast = try await runProcess(
                Binaries.jobctl, ["--socket", socket] + arguments, environment: environment)
            let plain = try await runProcess(
                Binaries.jobctl, ["--socket", socket] + arguments,
                environment: environment.merging(["JOBCTL_NO_FAST_PATH": "1"]) { _, new in new })
            #expect(fast.status == plain.status, "\(arguments): \(fast.stderr) vs \(plain.stderr)")
            #expect(comparable(fast.stdout, arguments) == comparable(plain.stdout, arguments), "\(arguments)")
            #expect(comparable(fast.stderr, arguments) == comparable(plain.stderr, arguments), "\(arguments)")
        }
        // And a real build's helpers still land (the fast path is what they take).
        // Every `run` that queued a build queued one, on either path (the fast path never hands a
        // call it made over to ArgumentParser to make again): 6 cases × 2 paths.
        let builds = try await daemon.jobctl("--json", "builds", "idle", "--limit", "100")
        #expect(builds.stdout.components(separatedBy: "\"job_id\"").count - 1 == 12, "\(builds.stdout)")
        let status = try await daemon.jobctl("status")
        #expect(status.status == 0 && status.stdout.contains("jobs: 1"), "\(status.stdout)")
    }
}
