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
        #expect(ProcessGroups.stat(of: leader)?.ended == true, "ended when the stop returned")
    }

    /// A leader whose main thread ended (`pthread_exit`) shows state Z while another thread of it
    /// runs on: it has not ended, and the stop kills it (it was taken for a zombie and left).
    @Test func aLeaderWhoseMainThreadEndedIsKilledToo() async throws {
        let pidFile = "/tmp/jc-orphan-\(UUID().uuidString).pid"
        defer { unlink(pidFile) }
        let script = """
            import ctypes, os, signal, threading, time
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            threading.Thread(target=lambda: time.sleep(60)).start()
            open('\(pidFile)', 'w').write(str(os.getpid()) + '\\n')
            ctypes.CDLL(None).pthread_exit(None)
            """
        let leader = try spawnPlain(["/usr/bin/env", "python3", "-c", script], [], ownGroup: true)
        defer {
            kill(leader, SIGKILL)
            waitpid(leader, nil, 0)
        }
        let start = try #require(ProcessGroups.startTicks(of: leader))
        func state() -> Character? {
            guard let text = try? String(contentsOfFile: "/proc/\(leader)/stat", encoding: .utf8),
                let closing = text.lastIndex(of: ")")
            else { return nil }
            return text[text.index(closing, offsetBy: 2)]
        }
        // The main thread has ended: state Z, and a thread still runs.
        try await waitFor { state() == "Z" }
        #expect(ProcessGroups.stat(of: leader)?.ended == false)
        #expect(await ProcessGroups.stopOrphans(group: leader, startTicks: start, grace: .milliseconds(200)) == 1)
        #expect(ProcessGroups.stat(of: leader)?.ended ?? true, "ended when the stop returned")
        let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(leader)/task")) ?? []
        #expect(threads.count <= 1, "threads left: \(threads)")
    }
}
