import Foundation
import Testing

@testable import JobControl

/// Crash recovery finds what a dead daemon's builds daemonized out of their process groups by
/// their environment, but never what descends from this process: several engines in one
/// process (the tests) share the default socket path, and a recovery in one killed another's
/// build of the same id.
@Suite struct CarrierTests {
    @Test func onlyProcessesThatAreNotOursAreFound() async throws {
        let socket = "/tmp/jc-carrier-\(UUID().uuidString).sock"
        let marks = ["JOBCONTROL_BUILD_ID=7", "JOBCONTROL_SOCKET=\(socket)"]
        // Ours: a child of this process.
        let child = try spawnPlain(["/bin/sleep", "30"], marks)
        defer {
            kill(child, SIGKILL)
            waitpid(child, nil, 0)
        }
        // Not ours: daemonized (setsid -f: its parent exits, it is reparented away from us;
        // it ignores SIGTERM, writes its pid, then becomes sleep).
        let pidFile = "/tmp/jc-carrier-\(UUID().uuidString).pid"
        defer { unlink(pidFile) }
        let daemonizer = try spawnPlain(
            ["/usr/bin/setsid", "-f", "/bin/sh", "-c", "trap '' TERM; echo $$ > \(pidFile); exec /bin/sleep 31"],
            marks)
        waitpid(daemonizer, nil, 0)
        var escaped: pid_t?
        for _ in 0..<250 {
            escaped = (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap {
                pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            if let escaped,
                ProcessGroups.carrying(buildIDs: [7], socket: socket).contains(where: { $0.pid == escaped })
                    || ProcessGroups.descendsFromThisProcess(escaped)
            {
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let escapee = try #require(escaped)
        defer { kill(escapee, SIGKILL) }
        #expect(ProcessGroups.descendsFromThisProcess(child))
        let found = ProcessGroups.carrying(buildIDs: [7], socket: socket)
        #expect(!found.contains { $0.pid == child }, "\(found)")
        if ProcessGroups.descendsFromThisProcess(escapee) {
            // This process is a child subreaper (a process-group engine of another test made it
            // one): what daemonizes below it is reparented to it, and is its own too.
            #expect(found.isEmpty, "\(found)")
        } else {
            #expect(found.map(\.pid) == [escapee], "\(found)")
            #expect(ProcessGroups.carrying(buildIDs: [8], socket: socket).isEmpty)
            #expect(ProcessGroups.carrying(buildIDs: [7], socket: socket + "x").isEmpty)
            // SIGTERM is ignored: the grace runs out, SIGKILL follows, and the stop returns once
            // the process has ended (kill(2) returns before that).
            #expect(await ProcessGroups.stopCarrying(buildIDs: [7], socket: socket, grace: .milliseconds(200)) == 1)
            #expect(ProcessGroups.stat(of: escapee).map(\.ended) ?? true, "ended when the stop returned")
            #expect(ProcessGroups.carrying(buildIDs: [7], socket: socket).isEmpty)
        }
        #expect(kill(child, 0) == 0, "the child, ours, is left alone")
    }
}
