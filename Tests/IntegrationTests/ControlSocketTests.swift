import Foundation
import JobControl
import JobControlClient
import Testing

/// The control socket's connection lifecycle against the real daemon: clients that half-close
/// get every reply, and thousands of hostile connections leave nothing behind.
@Suite struct ControlSocketTests {
    static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts")
    static let config = """
        jobs:
          - {id: hello, command: 'echo hello'}
          - {id: ticker, command: 'for i in 1 2 3 4 5 6 7 8 9 10; do echo $i; sleep 0.02; done'}

        """

    /// The daemon's open descriptors other than its database's (SQLite's connection pool opens
    /// reader connections on demand, up to its limit: not a leak), and how many are sockets.
    static func openDescriptors(_ pid: Int32, database: String) -> (all: Int, sockets: Int) {
        let directory = "/proc/\(pid)/fd"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let targets = names.map {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: directory + "/" + $0)) ?? ""
        }
        let own = targets.filter { !$0.hasPrefix(database) }
        return (own.count, own.filter { $0.hasPrefix("socket:") }.count)
    }

    /// A page of no records would answer "go on from where you are", and a client paging by
    /// `next_after_id` would ask again for ever: a limit below one is refused.
    @Test func aLogPageOfNoRecordsIsRefused() async throws {
        let daemon = try await DaemonProcess(config: Self.config)
        #expect(try await daemon.jobctl("run", "hello", "--wait").status == 0)
        for limit: Int64 in [0, -1] {
            do {
                _ = try await VarlinkConnection.withConnection(path: daemon.socket) { connection in
                    try await connection.call(
                        "io.jobcontrol.Manager.GetLogs", ["build": 1, "limit": .int(limit), "after_id": 1])
                }
                Issue.record("limit \(limit) was answered")
            } catch ClientError.remote(let error) {
                #expect(error.name.hasSuffix(".InvalidParameter"), "\(error)")
            }
        }
        try await daemon.stop()
    }

    /// A limit is the most records a reply has (as many as fit its size), not the size of one
    /// storage read: a limit of 700 over a log of 1,000 short lines gave 256, and the web page
    /// asking for 2,000 said it showed the first 2,000.
    @Test func aLogPageHasAsManyRecordsAsItsLimitAllows() async throws {
        let daemon = try await DaemonProcess(
            config: Self.config + "  - {id: lines, command: 'seq 1 1000'}\n")
        #expect(try await daemon.jobctl("run", "lines", "--wait").status == 0)
        let page = try await VarlinkConnection.withConnection(path: daemon.socket) { connection in
            try await connection.call("io.jobcontrol.Manager.GetLogs", ["build": 1, "limit": 700])
        }
        #expect(page["logs"]?.arrayValue?.count == 700)
        // As many as the limit: the client goes on from the last one if it wants more.
        let next = try #require(page["logs"]?.arrayValue?.last?["id"]?.intValue)
        let rest = try await VarlinkConnection.withConnection(path: daemon.socket) { connection in
            try await connection.call("io.jobcontrol.Manager.GetLogs", ["build": 1, "after_id": .int(next)])
        }
        #expect(rest["logs"]?.arrayValue?.count == 300)
        #expect(rest["next_after_id"] == nil)
        // The web page shows up to 2,000 records of a longer log, over several replies.
        try await daemon.stop()
        let web = try await DaemonProcess(
            config: "http: {listen: \"127.0.0.1:0\", anonymous: read}\njobs:\n  - {id: lines, command: 'seq 1 3000'}\n")
        #expect(try await web.jobctl("run", "lines", "--wait").status == 0)
        let port = try await MetricsTests.port(of: web)
        let html = try await runProcess("/usr/bin/curl", ["-sf", "http://127.0.0.1:\(port)/builds/1"]).stdout
        #expect(html.components(separatedBy: "<tr class=\"level").count - 1 == 2000)
        #expect(html.contains("The first 2000 records are shown"))
        try await web.stop()
    }

    /// `printf … | socat - UNIX-CONNECT:…`, the one-liner of docs/protocol.md: socat shuts down its
    /// writing side when its input ends, then waits for the reply.
    @Test func socatOneLinerGetsTheReplyEveryTime() async throws {
        let daemon = try await DaemonProcess(config: Self.config)
        let script = """
            ok=0
            for i in $(seq 100); do
              reply=$(printf '{"method":"org.varlink.service.GetInfo"}\\0' | socat - UNIX-CONNECT:"$1" | tr -d '\\0')
              case "$reply" in *'"io.jobcontrol.Manager"'*) ok=$((ok + 1));; *) echo "round $i: '$reply'";; esac
            done
            echo "replies $ok"
            """
        let result = try await runProcess("/bin/sh", ["-c", script, "sh", daemon.socket], timeout: .seconds(120))
        #expect(result.stdout.contains("replies 100"), "\(result.stdout)\n\(result.stderr)")
        try await daemon.stop()
    }

    @Test func halfClosingPythonClientGetsEveryReply() async throws {
        let daemon = try await DaemonProcess(config: Self.config)
        let script = Self.scripts.appendingPathComponent("half_close_client.py").path
        let result = try await runProcess(
            "/usr/bin/env", ["python3", script, daemon.socket, "100"], timeout: .seconds(120))
        #expect(result.status == 0 && result.stdout.contains("half-close ok 100"), "\(result.stdout)\n\(result.stderr)")
        try await daemon.stop()
    }

    /// Thousands of clients that vanish, reset, half-close mid-message, send garbage or too much,
    /// idle, follow and drop: the daemon stays up, serves a normal client throughout (the script
    /// checks), and its descriptors and memory come back to where they were.
    @Test func churnOfHostileClientsLeavesNothingBehind() async throws {
        let daemon = try await DaemonProcess(config: Self.config)
        let pid = daemon.process.processIdentifier
        let script = Self.scripts.appendingPathComponent("socket_churn.py").path
        let sockets = Self.openDescriptors(pid, database: daemon.database).sockets
        // A warm-up first: SQLite opens its reader connections, malloc its arenas.
        let warmUp = try await runProcess(
            "/usr/bin/env", ["python3", script, daemon.socket, "300", "7"], timeout: .seconds(300))
        #expect(warmUp.status == 0, "\(warmUp.stdout)\n\(warmUp.stderr)")
        try await waitFor("the warm-up's connections to close") {
            Self.openDescriptors(pid, database: daemon.database).sockets <= sockets
        }
        let descriptors = Self.openDescriptors(pid, database: daemon.database).all
        let rss = HostileClientTests.rssKilobytes(pid)

        let churn = try await runProcess(
            "/usr/bin/env", ["python3", script, daemon.socket, "2500", "11"], timeout: .seconds(600))
        #expect(churn.status == 0, "\(churn.stdout)\n\(churn.stderr)\n\(daemon.log.suffix(2000))")
        #expect(churn.stdout.contains("churn ok"))
        #expect(daemon.process.isRunning, "the daemon died: \(daemon.log.suffix(2000))")

        try await waitFor("the daemon's descriptors to come back to \(descriptors)") {
            let open = Self.openDescriptors(pid, database: daemon.database)
            return open.all <= descriptors && open.sockets <= sockets
        }
        let grown = HostileClientTests.rssKilobytes(pid) - rss
        print("churn: RSS grew by \(grown) KB, baseline \(rss) KB")
        #expect(grown < 16 * 1024, "RSS grew by \(grown) KB over the churn")
        #expect(try await daemon.jobctl("status").status == 0)
        #expect(try await daemon.stop() == 0)
    }
}
