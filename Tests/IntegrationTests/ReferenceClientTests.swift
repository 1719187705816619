import Foundation
import Testing

/// A generic Varlink client — the reference Python implementation — introspects and calls the
/// daemon: the interface descriptions are valid IDL, and replies and errors have the right shape.
@Suite struct ReferenceClientTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Scripts/varlink_reference_client.py").path

    @Test func thePythonVarlinkClientIntrospectsAndCalls() async throws {
        let daemon = try await DaemonProcess(config: "jobs:\n  - {id: hello, command: 'echo hello'}\n")
        let result = try await runProcess("/usr/bin/env", ["python3", Self.script, daemon.socket])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        for line in [
            "parsed io.jobcontrol.Manager", "parsed io.jobcontrol.Build", "parsed org.varlink.service", "jobs hello",
            "stream CREATED,SUCCESSFUL", "error io.jobcontrol.Manager.NoSuchJob no-such-job",
            "error org.varlink.service.InvalidParameter", "ok",
        ] {
            #expect(result.stdout.contains(line), "missing '\(line)' in:\n\(result.stdout)\n\(result.stderr)")
        }
        try await daemon.stop()
    }
}
