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
        ]
        for (arguments, environment) in cases {
            let fast = try await runProcess(
                Binaries.jobctl, ["--socket", socket] + arguments, environment: environment)
            let plain = try await runProcess(
                Binaries.jobctl, ["--socket", socket] + arguments,
                environment: environment.merging(["JOBCTL_NO_FAST_PATH": "1"]) { _, new in new })
            #expect(fast.status == plain.status, "\(arguments): \(fast.stderr) vs \(plain.stderr)")
            #expect(fast.stdout == plain.stdout, "\(arguments)")
            #expect(fast.stderr == plain.stderr, "\(arguments)")
        }
        // And a real build's helpers still land (the fast path is what they take).
        let status = try await daemon.jobctl("status")
        #expect(status.status == 0 && status.stdout.contains("jobs: 1"), "\(status.stdout)")
    }
}
