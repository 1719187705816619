import Foundation
import Testing

/// The units of `systemd/` under a real `systemd --user` manager (Scripts/systemd-user-units.sh):
/// socket activation on the first call, active only after READY, the status line, reload,
/// a watchdog restart when the scheduler is stalled on purpose, and a clean stop.
@Suite struct SystemdUserManagerTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Scripts/systemd-user-units.sh")
    static let repository = script.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func theShippedUnitsRunUnderARealServiceManager() async throws {
        let work = try TemporaryDirectory()
        try work.write(
            "jobcontrol.yaml", "jobs:\n  - {id: hello, command: 'echo hello; grep ^0:: /proc/self/cgroup'}\n")
        let result = try await runProcess(
            "/usr/bin/timeout",
            [
                "170", "/usr/bin/unshare", "--mount", "--propagation", "private",
                Self.script.path, Self.repository.path, Binaries.directory.path, work.path,
            ],
            timeout: .seconds(180))
        var checks: [String: String] = [:]
        for line in result.stdout.split(separator: "\n") where line.hasPrefix("check ") {
            let parts = line.dropFirst(6).split(separator: " ", maxSplits: 1).map(String.init)
            checks[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        let context = Comment(rawValue: result.stdout + result.stderr)
        #expect(checks["manager"] == "running", context)
        #expect(checks["before-first-call"] == "inactive", context)
        #expect(checks["run-status"] == "0", context)
        #expect(checks["after-first-call"] == "active/running", context)
        #expect(checks["status-line"]?.hasPrefix("1 jobs,") == true, context)
        #expect(checks["daemon-cgroup"] == "daemon", context)
        #expect(checks["build-cgroup"] == "jobcontrold.service/builds/build-1", context)
        #expect(checks["reload"] == "0" && checks["after-reload"] == "active", context)
        #expect(checks["watchdog-restarts"] == "1", context)
        #expect(checks["after-watchdog"] == "active pid-changed=yes", context)
        #expect(checks["run-after-restart"] == "0", context)
        #expect(checks["stopped"] == "inactive result=success", context)
        #expect(checks["journal-stopped"].flatMap { Int($0) }.map { $0 >= 1 } == true, context)
    }
}
