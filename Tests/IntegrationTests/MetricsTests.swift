import Foundation
import JobControl
import Testing

/// `/metrics` on the daemon's HTTP listener: what `promtool check metrics` accepts, refused
/// without a token, and scraped by a real Prometheus server whose answers match `jobctl`.
@Suite struct MetricsTests {
    static let token = "t0k3n-metrics-0123456789"

    /// The port the daemon bound (`listen: 127.0.0.1:0`), from its log line.
    static func port(of daemon: DaemonProcess) async throws -> Int {
        var port: Int?
        try await waitFor("the HTTP listener's log line") {
            guard let line = daemon.log.split(separator: "\n").first(where: { $0.contains("HTTP listener up") }),
                let range = line.range(of: #"port=[0-9]+"#, options: .regularExpression)
            else { return false }
            port = Int(line[range].dropFirst(5))
            return port != nil
        }
        return port!
    }

    static func freePort() throws -> Int {
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(probe) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(probe, pointer, length) == 0 && getsockname(probe, pointer, &length) == 0
            }
        }
        guard bound else { throw TestFailure("no free port: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test func prometheusScrapesWhatJobctlSays() async throws {
        let daemon = try await DaemonProcess(
            config: """
                http: {listen: "127.0.0.1:0", tokens: [{token: "\(Self.token)", level: read}]}
                jobs:
                  - {id: ok, command: 'echo fine'}
                  - {id: bad, command: 'echo broken >&2; exit 1'}
                  - {id: after-bad, command: 'true', dependencies: [bad]}
                """)
        for job in ["ok", "ok", "bad"] { _ = try await daemon.jobctl("run", job, "--wait") }
        // A build recorded as not run (its dependency failed) counts as failed, as jobctl builds says.
        _ = try await daemon.jobctl("run", "after-bad", "--build-deps", "--wait")
        let port = try await Self.port(of: daemon)
        let url = "http://127.0.0.1:\(port)/metrics"
        let status = try await daemon.jobctl("status")
        #expect(status.stdout.contains("metrics: \(url)"), "\(status.stdout)")
        // Without a token: refused; with it: the text format, valid for promtool.
        let anonymous = try await runProcess("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", url])
        #expect(anonymous.stdout == "401")
        let scrape = try await runProcess("/usr/bin/curl", ["-sf", "-H", "Authorization: Bearer \(Self.token)", url])
        #expect(scrape.status == 0, "\(scrape.stderr)")
        #expect(
            scrape.stdout.contains(#"jobcontrol_builds_total{job_id="ok",result="successful"} 2"#), "\(scrape.stdout)")
        #expect(scrape.stdout.contains(#"jobcontrol_builds_total{job_id="bad",result="failed"} 2"#))
        #expect(scrape.stdout.contains(#"jobcontrol_builds_total{job_id="after-bad",result="failed"} 1"#))
        #expect(scrape.stdout.contains(#"jobcontrol_job_consecutive_failures{job_id="bad"} 2"#))
        // A client that connects and says nothing is closed (after 10 s), not kept forever.
        let idle = try await runProcess(
            "/usr/bin/env",
            [
                "python3", "-c",
                "import socket; s = socket.create_connection(('127.0.0.1', \(port))); s.settimeout(60); print('closed' if s.recv(1) == b'' else 'data')",
            ])
        #expect(idle.stdout.contains("closed"), "\(idle.stdout)\(idle.stderr)")
        // Nor is one that trickles a request a byte a second (slowloris): it has 10 s for all of it.
        let trickle = try await runProcess(
            "/usr/bin/env",
            [
                "python3", "-c",
                """
                import socket, time
                s = socket.create_connection(('127.0.0.1', \(port)))
                start = time.monotonic()
                try:
                    for byte in b'GET /metrics HTTP/1.1\\r\\nX-Padding: ' + b'x' * 100:
                        s.send(bytes([byte]))
                        time.sleep(1)
                    print('served forever')
                except OSError:
                    print('closed after', round(time.monotonic() - start))
                """,
            ])
        #expect(trickle.stdout.contains("closed after"), "\(trickle.stdout)\(trickle.stderr)")
        // Nor one that asks and never reads its answers: pipelined requests, unread, were answered
        // into a full socket for good; it has 10 s to take each answer. Meanwhile one
        // address cannot take every connection: the 65th of 70 is refused, and others served.
        let unread = try await runProcess(
            "/usr/bin/env",
            [
                "python3", "-c",
                """
                import socket, subprocess, time
                s = socket.create_connection(('127.0.0.1', \(port)))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.settimeout(60)
                # answers far larger than the socket buffers (the OpenAPI document, public):
                # the daemon's writes block at once, however slow the machine
                s.sendall(b'GET /api/v1/openapi.json HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n' * 2000)
                # the daemon's side of the connection: closed after 10 s of answers not taken,
                # where it stayed open while they waited
                start = time.monotonic()
                state = 'open'
                while time.monotonic() - start < 30:
                    time.sleep(0.5)
                    ss = subprocess.run(
                        ['ss', '-Htn', 'state', 'established', 'sport = :\(port)'], capture_output=True, text=True)
                    if not ss.stdout.strip():
                        state = 'closed'
                        break
                print('daemon side', state, 'after', round(time.monotonic() - start))
                s.close()
                many = []
                for _ in range(70):
                    c = socket.create_connection(('127.0.0.1', \(port)))
                    many.append(c)
                # the daemon closes those over the limit: wait for 6 (bounded), then count once more
                for c in many:
                    c.setblocking(False)
                closed = set()
                def look():
                    for index, c in enumerate(many):
                        if index in closed:
                            continue
                        try:
                            if c.recv(1) == b'':
                                closed.add(index)
                        except BlockingIOError:
                            pass
                start = time.monotonic()
                while len(closed) < 6 and time.monotonic() - start < 20:
                    look()
                    time.sleep(0.05)
                look()
                print('refused', len(closed))
                """,
            ], timeout: .seconds(90))
        #expect(unread.stdout.contains("daemon side closed"), "\(unread.stdout)\(unread.stderr)")
        #expect(unread.stdout.contains("refused 6"), "\(unread.stdout)\(unread.stderr)")
        let directory = try TemporaryDirectory()
        try directory.write("metrics.txt", scrape.stdout)
        let check = try await runProcess(
            "/bin/sh", ["-c", "promtool check metrics < '\(directory.file("metrics.txt"))'"])
        #expect(
            check.status == 0 && check.stdout.isEmpty && check.stderr.isEmpty,
            "promtool: \(check.stdout)\(check.stderr)")

        // A real Prometheus server scrapes the daemon every second.
        try directory.write(
            "prometheus.yml",
            """
            global: {scrape_interval: 1s, evaluation_interval: 1s}
            scrape_configs:
              - job_name: jobcontrol
                authorization: {credentials: "\(Self.token)"}
                static_configs: [{targets: ["127.0.0.1:\(port)"]}]
            """)
        _ = FileManager.default.createFile(atPath: directory.file("prometheus.log"), contents: nil)
        let serverLog = try FileHandle(forWritingTo: URL(fileURLWithPath: directory.file("prometheus.log")))
        // The port is free when chosen, not necessarily when Prometheus binds it (another test's
        // server may take it between): a Prometheus that exits at once gets another port.
        var prometheusPort = 0
        var server = Process()
        for attempt in 1...5 {
            prometheusPort = try Self.freePort()
            server = Process()
            server.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
            server.arguments = [
                "--config.file=\(directory.file("prometheus.yml"))", "--storage.tsdb.path=\(directory.file("data"))",
                "--web.listen-address=127.0.0.1:\(prometheusPort)",
            ]
            server.standardOutput = serverLog
            server.standardError = serverLog
            try server.run()
            let (started, port) = (server, prometheusPort)
            try await waitFor("Prometheus to answer or exit", timeout: .seconds(60)) {
                let ready = try? await runProcess("/usr/bin/curl", ["-sf", "http://127.0.0.1:\(port)/-/ready"])
                return !started.isRunning || ready?.status == 0
            }
            if server.isRunning { break }
            server.waitUntilExit()
            if attempt == 5 { throw TestFailure("Prometheus did not start on any of five ports") }
        }
        defer {
            kill(server.processIdentifier, SIGKILL)  // SIGTERM may be blocked in the test runner's children
            server.waitUntilExit()
        }
        nonisolated(unsafe) var lastAnswer = ""
        func query(_ expression: String) async throws -> Double? {
            let result = try await runProcess(
                "/usr/bin/curl",
                [
                    "-sf", "--get", "--data-urlencode", "query=\(expression)",
                    "http://127.0.0.1:\(prometheusPort)/api/v1/query",
                ])
            lastAnswer = "\(result.status): \(result.stdout)\(result.stderr)"
            guard result.status == 0, let value = try? JSONValue.parse(result.stdout)["data"]?["result"],
                case .array(let series) = value, let first = series.first,
                case .array(let pair)? = first["value"], pair.count == 2, let text = pair[1].stringValue
            else { return nil }
            return Double(text)
        }
        var successes: Double?
        do {
            try await waitFor("Prometheus to scrape the daemon", timeout: .seconds(60)) {
                successes = (try? await query(#"jobcontrol_builds_total{job_id="ok",result="successful"}"#)) ?? nil
                return successes != nil
            }
        } catch {
            let log = (try? String(contentsOfFile: directory.file("prometheus.log"), encoding: .utf8)) ?? ""
            let targets = try await runProcess(
                "/usr/bin/curl", ["-s", "http://127.0.0.1:\(prometheusPort)/api/v1/targets"])
            lastAnswer += "; targets: \(targets.stdout)"
            Issue.record("\(error); the last answer: \(lastAnswer); Prometheus said: \(log.suffix(1500))")
            return
        }
        // Builds by result, as jobctl counts them.
        guard case .array(let builds) = try JSONValue.parse(try await daemon.jobctl("--json", "builds", "ok").stdout)
        else { throw TestFailure("jobctl builds") }
        #expect(successes == Double(builds.count { $0["state"] == "SUCCESSFUL" }))
        #expect(try await query(#"jobcontrol_builds_total{job_id="bad",result="failed"}"#) == 2)
        // The last success, as jobctl shows the newest build's end (same second).
        let lastSuccess = try #require(try await query(#"jobcontrol_job_last_success_timestamp_seconds{job_id="ok"}"#))
        let newest = try #require(builds.first { $0["state"] == "SUCCESSFUL" })
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let ended = try #require(newest["end_time"]?.stringValue.flatMap { formatter.date(from: $0) })
        #expect(abs(lastSuccess - ended.timeIntervalSince1970) < 1, "\(lastSuccess) against \(ended)")
    }
}
