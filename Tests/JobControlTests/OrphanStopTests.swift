import Foundation
import Testing

@testable import JobControl

/// Crash recovery's stop of a dead daemon's process group: SIGTERM, SIGKILL after the grace,
/// and "stopped" means ended when it returns (a retry of the build may start next).
@Suite struct OrphanStopTests {
    @Test func aGroupThatIgnoresSIGTERMHasEndedWhenTheStopReturns() async throws {
        let pidFile = "/tmp/jc-orphan-\(UUID().uuidString).pid"
        defer { unlink(pidFile) }
        // Ignores SIGTERM before it says it is ready (its pid in the file), then becomes sleep.
        let leader = try spawnPlain(
            ["/bin/sh", "-c", "trap '' TERM; echo $$ > \(pidFile); exec /bin/sleep 30"], [], ownGroup: true)
        defer {
            kill(leader, SIGKILL)
            waitpid(leader, nil, 0)
        }
        let start = try #require(ProcessGroups.startTicks(of: leader))
        try await waitFor { FileManager.default.fileExists(atPath: pidFile) }
        #expect(await ProcessGroups.stopOrphans(group: leader, startTicks: start, grace: .milliseconds(200)) == 1)
        // Our child: a zombie until reaped below.
        #expect(ProcessGroups.stat(of: leader)?.zombie == true, "ended when the stop returned")
    }
}
