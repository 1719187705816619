import Foundation
import JobControl
import Testing

/// The SQLite file replaced or deleted under a running daemon (a backup restored with `mv`, an
/// `rm`): the daemon said nothing and went on acknowledging builds whose records vanished at the
/// next start. It now reports the storage unavailable until a restart.
@Suite struct DatabaseFileTests {
    @Test func aDatabaseReplacedUnderTheDaemonIsReported() async throws {
        let daemon = try await DaemonProcess(config: "jobs:\n  - {id: small, command: 'echo hi'}\n")
        #expect(try await daemon.jobctl("run", "small", "--wait").status == 0)
        let moved = daemon.database + ".moved"
        try FileManager.default.moveItem(atPath: daemon.database, toPath: moved)
        try FileManager.default.copyItem(atPath: moved, toPath: daemon.database)
        var status = try await daemon.jobctl("status")
        try await waitFor("jobctl status to report the replaced file", timeout: .seconds(30)) {
            status = (try? await daemon.jobctl("status")) ?? status
            return status.stdout.contains("UNAVAILABLE") && status.stdout.contains("was replaced")
        }
        #expect(status.status != 0, "\(status.stdout)")
        try await daemon.stop()
    }
}
