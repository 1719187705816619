import Foundation
import JobControl
import JobControlClient
import Testing

/// The dashboard and `/api/v1` of a real daemon: the pages in a real headless Chromium
/// (Scripts/browser_test.py), the OpenAPI document validated by openapi-spec-validator, and each
/// read endpoint's answer compared with the Varlink answer for the same data.
@Suite struct WebDashboardTests {
    static let token = "web-dashboard-run-token-0123"

    static var scripts: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts").path
    }

    /// Screenshots go under the package's .build (never committed), or $JOBCONTROL_SCREENSHOTS.
    static var screenshots: String {
        ProcessInfo.processInfo.environment["JOBCONTROL_SCREENSHOTS"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/web-screenshots").path
    }

    static func daemon(gates: String) async throws -> DaemonProcess {
        try await DaemonProcess(
            config: """
                http:
                  listen: "127.0.0.1:0"
                  anonymous: read
                  tokens: [{token: "\(token)", level: run, name: tester}]
                jobs:
                  - {id: a, command: 'true', tags: [graph]}
                  - {id: b, command: 'true', dependencies: [a], tags: [graph]}
                  - {id: c, command: 'echo broken >&2; exit 1', tags: [graph]}
                  - {id: d, command: 'true', dependencies: [b, c], tags: [graph]}
                  - {id: e, command: 'true', dependencies: [d]}
                  - {id: z, command: 'true', schedule: '*:0/15'}
                  - id: chatty
                    command: 'echo info-line; echo warn-line >&2; jobctl log --level error error-line'
                  - id: ticker
                    command: 'for i in $(seq 1 40); do echo line-$i; sleep 0.02; done'
                  - id: slow
                    command: |
                      jobctl progress 1 3
                      while [ ! -e '\(gates)/1' ]; do sleep 0.05; done
                      jobctl progress 2 3
                      echo step-2
                      while [ ! -e '\(gates)/2' ]; do sleep 0.05; done
                      jobctl progress 3 3
                """)
    }

    @Test func apiAnswersAsVarlinkDoes() async throws {
        let gates = try TemporaryDirectory()
        let daemon = try await Self.daemon(gates: gates.path)
        for job in ["a", "b", "chatty"] { _ = try await daemon.jobctl("run", job, "--wait") }
        let port = try await MetricsTests.port(of: daemon)
        let base = "http://127.0.0.1:\(port)/api/v1"
        // The document validates as OpenAPI 3.0.
        let directory = try TemporaryDirectory()
        let document = try await runProcess("/usr/bin/curl", ["-sf", "\(base)/openapi.json"])
        try directory.write("openapi.json", document.stdout)
        let validation = try await runProcess(
            "/usr/bin/env",
            [
                "python3", "-c",
                "import json, sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1]))); print('valid')",
                directory.file("openapi.json"),
            ])
        #expect(validation.stdout.contains("valid"), "\(validation.stdout)\(validation.stderr)")
        let paths = try JSONValue.parse(document.stdout)["paths"]?.objectValue ?? [:]
        let chatty = try #require(
            try JSONValue.parse(try await daemon.jobctl("--json", "builds", "chatty").stdout).arrayValue?.first?["id"]?
                .intValue)
        // Each read method, with parameters that name real data; Status's clock-driven fields aside.
        let calls: [(String, [String: JSONValue])] = [
            ("ListJobs", [:]), ("GetJob", ["job": "b"]), ("ListBuilds", ["job": "a", "limit": 5]),
            ("GetBuild", ["id": .int(chatty)]), ("GetLogs", ["build": .int(chatty)]),
            ("GetProgress", ["build": .int(chatty)]), ("NextRuns", ["job": "z", "count": 3]),
            ("Calendar", ["expression": "*:0/15", "base_time": "2026-01-01T00:00:00Z", "iterations": 4]),
            ("ListNotifications", [:]), ("ListChannels", [:]), ("Status", [:]),
        ]
        let readMethods = paths.keys.filter {
            paths[$0]?["get"] != nil && $0.hasPrefix("/api/v1/") && !$0.contains("events")
        }
        #expect(
            Set(readMethods.map { String($0.dropFirst(8)) }).isSubset(
                of: Set(calls.map(\.0)).union(["GetNotification"])))
        for (method, parameters) in calls {
            #expect(paths["/api/v1/\(method)"] != nil, "\(method) is not in the OpenAPI document")
            let body = JSONValue.object(parameters).jsonText()
            let http = try await runProcess(
                "/usr/bin/curl",
                ["-s", "-X", "POST", "-H", "Authorization: Bearer \(Self.token)", "-d", body, "\(base)/\(method)"])
            var viaHTTP = try JSONValue.parse(http.stdout).objectValue ?? [:]
            var viaVarlink = try await VarlinkConnection.withConnection(path: daemon.socket) {
                try await $0.call("io.jobcontrol.Manager.\(method)", parameters)
            }
            if method == "Status" {
                for key in ["pid", "jobs", "workers", "version", "storage"] {
                    #expect(viaHTTP[key] == viaVarlink[key], "Status.\(key)")
                }
                viaHTTP = [:]
                viaVarlink = [:]
            }
            #expect(viaHTTP == viaVarlink, "\(method): HTTP \(http.stdout) against Varlink \(viaVarlink)")
        }
        // GET with query parameters answers the same as POST.
        let get = try await runProcess(
            "/usr/bin/curl", ["-s", "-H", "Authorization: Bearer \(Self.token)", "\(base)/GetBuild?id=\(chatty)"])
        let varlinkBuild = try await VarlinkConnection.withConnection(path: daemon.socket) {
            try await $0.call("io.jobcontrol.Manager.GetBuild", ["id": .int(chatty)])
        }
        #expect(try JSONValue.parse(get.stdout).objectValue == varlinkBuild)
        // Errors: a Varlink error as JSON with a fitting status; no token for a run is 401.
        let missing = try await runProcess(
            "/usr/bin/curl",
            ["-s", "-w", "\n%{http_code}", "-H", "Authorization: Bearer \(Self.token)", "\(base)/GetJob?job=nope"])
        #expect(missing.stdout.hasSuffix("\n404") && missing.stdout.contains("io.jobcontrol.Manager.NoSuchJob"))
        let anonymousRun = try await runProcess(
            "/usr/bin/curl",
            ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-d", #"{"job":"a"}"#, "\(base)/RunJob"])
        #expect(anonymousRun.stdout == "401")
        // Refusals say what would be accepted: 401 names the scheme, 405 the methods.
        let heads = { (arguments: [String]) async throws -> String in
            try await runProcess("/usr/bin/curl", ["-s", "-o", "/dev/null", "-D", "-"] + arguments).stdout.lowercased()
        }
        let wrongLogin = try await heads(["-d", "token=wrong", "\(base.dropLast(7))/login"])
        #expect(
            wrongLogin.hasPrefix("http/1.1 401") && wrongLogin.contains("www-authenticate: bearer"), "\(wrongLogin)")
        let getRun = try await heads(["-H", "Authorization: Bearer \(Self.token)", "\(base)/RunJob?job=a"])
        #expect(getRun.hasPrefix("http/1.1 405") && getRun.contains("allow: post\r\n"), "\(getRun)")
        let deleteStatus = try await heads([
            "-X", "DELETE", "-H", "Authorization: Bearer \(Self.token)", "\(base)/Status",
        ])
        #expect(
            deleteStatus.hasPrefix("http/1.1 405") && deleteStatus.contains("allow: get, head, post"), "\(deleteStatus)"
        )
        // A page, /metrics or the OpenAPI document posted to: the method is wrong, not the address.
        let readOnly = [("POST", "/"), ("POST", "/jobs/a"), ("POST", "/metrics"), ("PUT", "/api/v1/openapi.json")]
        for (method, path) in readOnly {
            let wrong = try await heads(["-X", method, "-d", "", "\(base.dropLast(7))\(path)"])
            #expect(wrong.hasPrefix("http/1.1 405") && wrong.contains("allow: get, head"), "\(path): \(wrong)")
        }
        let deletePage = try await heads(["-X", "DELETE", "\(base.dropLast(7))/jobs"])
        #expect(deletePage.hasPrefix("http/1.1 405") && deletePage.contains("allow: get, head, post"), "\(deletePage)")
        let headEvents = try await heads(["-I", "-H", "Authorization: Bearer \(Self.token)", "\(base)/events/running"])
        #expect(headEvents.hasPrefix("http/1.1 200") && headEvents.contains("text/event-stream"), "\(headEvents)")
        // A client that waits to be asked for its body (Expect: 100-continue) is asked at once.
        let large = try await runProcess(
            "/usr/bin/curl",
            [
                "-sv", "-o", "/dev/null", "--expect100-timeout", "60", "-H", "Expect: 100-continue",
                "-H", "Authorization: Bearer \(Self.token)", "-H", "Content-Type: application/json",
                "-d", #"{"job":"a","parameters":{},"force":false}"# + String(repeating: " ", count: 2000),
                "\(base)/RunJob",
            ])
        #expect(large.stderr.contains("HTTP/1.1 100 Continue"), "\(large.stderr)")
        #expect(large.stderr.contains("HTTP/1.1 200"), "\(large.stderr)")
        // A stream about a build that does not exist is a 404, as the call without follow=1 is.
        for method in ["GetLogs", "GetProgress"] {
            let unknown = try await runProcess(
                "/usr/bin/curl",
                ["-s", "-o", "/dev/null", "-w", "%{http_code}", "\(base)/\(method)?build=999999&follow=1"])
            #expect(unknown.stdout == "404", "\(method): \(unknown.stdout)")
        }
        // A followed log streams Server-Sent Events and ends with `end`.
        let events = try await runProcess(
            "/usr/bin/curl", ["-sN", "-H", "Accept: text/event-stream", "\(base)/GetLogs?build=\(chatty)&follow=1"])
        #expect(events.stdout.contains("event: reply") && events.stdout.contains("warn-line"), "\(events.stdout)")
        // Each log event says where it got to, for a reconnecting EventSource (Last-Event-ID).
        #expect(events.stdout.hasPrefix("id: "), "\(events.stdout)")
        let resumed = try await runProcess(
            "/usr/bin/curl",
            ["-sN", "-H", "Last-Event-ID: 1000000", "\(base)/GetLogs?build=\(chatty)&follow=1"])
        #expect(resumed.stdout == "event: end\ndata: {}\n\n", "\(resumed.stdout)")
        #expect(events.stdout.hasSuffix("event: end\ndata: {}\n\n"), "\(events.stdout)")
    }

    /// Several clients following one running build's log (one shared reader, LogFanout) each get
    /// every line once, in order, whenever they joined, and the `end` event.
    @Test func followersShareOneReaderAndMissNothing() async throws {
        let gates = try TemporaryDirectory()
        let daemon = try await Self.daemon(gates: gates.path)
        let port = try await MetricsTests.port(of: daemon)
        let run = try await daemon.jobctl("--json", "run", "ticker")
        let build = try #require(try JSONValue.parse(run.stdout)["id"]?.intValue, "\(run.stdout)")
        let url = "http://127.0.0.1:\(port)/api/v1/GetLogs?build=\(build)&follow=1"
        let socket = daemon.socket
        let clients = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<4 {
                group.addTask {
                    // Joining at different points (the first at once, the last maybe after the end).
                    if index > 0 {
                        _ = try await runProcess(Binaries.jobctl, ["--socket", socket, "progress", "\(build)"])
                    }
                    return try await runProcess("/usr/bin/curl", ["-sN", url]).stdout
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        let expected = (1...40).map { "line-\($0)" }
        for output in clients {
            let lines = output.components(separatedBy: "\"message\":\"").dropFirst().map {
                String($0.prefix { $0 != "\"" })
            }
            #expect(lines == expected, "\(output.prefix(3000))")
            #expect(output.hasSuffix("event: end\ndata: {}\n\n"))
        }
    }
}

extension WebDashboardTests {
    /// The shared reader of a build's log does not start where a client claims to be: a first
    /// follower saying it has record 999,999,999 (`Last-Event-ID`) left every later follower of
    /// that build without live lines until the build ended.
    @Test func aClaimedPositionPastTheLogDoesNotStopTheFeed() async throws {
        let gates = try TemporaryDirectory()
        let daemon = try await Self.daemon(gates: gates.path)
        let port = try await MetricsTests.port(of: daemon)
        let run = try await daemon.jobctl("--json", "run", "slow")
        let build = try #require(try JSONValue.parse(run.stdout)["id"]?.intValue, "\(run.stdout)")
        let url = "http://127.0.0.1:\(port)/api/v1/GetLogs?build=\(build)&follow=1"
        func followers() async throws -> Int {
            let listed = try await runProcess(
                "/bin/sh", ["-c", "ss -Htn state established 'sport = :\(port)' | wc -l"])
            return Int(listed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        }
        // Both followers stay until the build ends (their streams' end; 120 s bounds them), and
        // the test waits for events, not within a time: with `curl -m 8` the first one was gone
        // before the first look of a test starved of threads, and the wait for it timed out.
        async let hostile = runProcess("/usr/bin/curl", ["-sN", "-m", "120", "-H", "Last-Event-ID: 999999999", url])
        try await waitFor("the first follower") { ((try? await followers()) ?? 0) >= 1 }
        let received = gates.file("victim.txt")
        async let victim = runProcess("/usr/bin/curl", ["-sN", "-m", "120", "-o", received, url])
        try await waitFor("the second follower") { ((try? await followers()) ?? 0) >= 2 }
        try gates.write("1", "")
        // The build cannot end before the second gate: a line seen now reached it live.
        do {
            try await waitFor("the line after the first gate at the second follower") {
                (try? String(contentsOfFile: received, encoding: .utf8))?.contains("step-2") ?? false
            }
        } catch {
            let seen = (try? String(contentsOfFile: received, encoding: .utf8)) ?? ""
            Issue.record("a live line did not reach the second follower: \(seen.prefix(2000))")
        }
        try gates.write("2", "")
        _ = try await victim
        _ = try await hostile
        try await daemon.stop()
    }
}

/// `http: {socket: PATH}`: a Unix-socket listener whose clients are known by their credentials.
@Suite struct WebSocketListenerTests {
    @Test func peerCredentialsGrantTheirLevel() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("http.sock")
        try directory.write(
            "jobcontrol.yaml",
            """
            http: {socket: '\(path)'}
            jobs:
              - {id: a, command: 'true'}
            """)
        let daemon = try await DaemonProcess(directory: directory)
        try await waitFor("the HTTP socket") { FileManager.default.fileExists(atPath: path) }
        // No TCP listener when only a socket is configured.
        #expect(!daemon.log.contains("port="), "\(daemon.log)")
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o660)
        // This test runs as root (or the daemon's own user): admin, without a token, as on the control socket.
        let status = try await runProcess(
            "/usr/bin/curl", ["-s", "-w", "\n%{http_code}", "--unix-socket", path, "http://localhost/api/v1/Status"])
        #expect(status.stdout.hasSuffix("\n200") && status.stdout.contains("\"pid\""), "\(status.stdout)")
        // A script (no Origin header) may act; a browser's cross-origin POST without the CSRF token may not.
        let run = try await runProcess(
            "/usr/bin/curl",
            [
                "-s", "-w", "\n%{http_code}", "--unix-socket", path, "-d", #"{"job": "a"}"#,
                "http://localhost/api/v1/RunJob",
            ])
        #expect(run.stdout.hasSuffix("\n200"), "\(run.stdout)")
        let forged = try await runProcess(
            "/usr/bin/curl",
            [
                "-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", path, "-H",
                "Origin: http://evil.example",
                "-d", "force=on", "http://localhost/jobs/a/run",
            ])
        #expect(forged.stdout == "403")
        // The page's own form carries the token.
        let page = try await runProcess("/usr/bin/curl", ["-s", "--unix-socket", path, "http://localhost/jobs/a"])
        let csrf = try #require(
            page.stdout.range(of: #"name="csrf" value="[0-9a-f]{64}""#, options: .regularExpression).map {
                String(page.stdout[$0].dropFirst(19).dropLast())
            })
        let posted = try await runProcess(
            "/usr/bin/curl",
            [
                "-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", path, "-H", "Origin: http://localhost",
                "-d", "csrf=\(csrf)", "http://localhost/jobs/a/run",
            ])
        #expect(posted.stdout == "303", "\(posted.stdout)")
        // Through a reverse proxy every request would carry the proxy's credentials: a request
        // that says it was forwarded is a TCP client (no token: nothing).
        let proxied = try await runProcess(
            "/usr/bin/curl",
            [
                "-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", path, "-H",
                "X-Forwarded-For: 203.0.113.9",
                "http://localhost/api/v1/Status",
            ])
        #expect(proxied.stdout == "401")
    }
}

extension ExclusiveTests {
    /// The dashboard in real headless Chromium (Scripts/browser_test.py). In the serialized suite:
    /// Chromium loads both cores for seconds, and beside every other suite at CI's start it made
    /// their daemons slow to stop.
    @Suite struct WebBrowserTests {
        @Test func browser() async throws {
            let gates = try TemporaryDirectory()
            let daemon = try await WebDashboardTests.daemon(gates: gates.path)
            // b is built on a's first build, then a is built again: b is outdated; c failed; d and
            // e were never built.
            for job in ["a", "b", "a", "c", "chatty"] { _ = try await daemon.jobctl("run", job, "--wait") }
            let port = try await MetricsTests.port(of: daemon)
            // Chromium's own temporary directories (org.chromium.Chromium.*) go with the test's.
            let scratch = try TemporaryDirectory()
            let result = try await runProcess(
                "/usr/bin/env",
                [
                    "python3", "\(WebDashboardTests.scripts)/browser_test.py", "http://127.0.0.1:\(port)",
                    WebDashboardTests.token, gates.path,
                    WebDashboardTests.screenshots,
                ], environment: ["TMPDIR": scratch.path], timeout: .seconds(400))
            withExtendedLifetime((gates, scratch)) {}  // neither is removed while Chromium runs
            #expect(
                result.status == 0,
                "browser test:\n\(result.stdout)\n\(result.stderr)\ndaemon:\n\(daemon.log.suffix(3000))"
            )
            #expect(result.stdout.contains("ok: the log's level filter works"), "\(result.stdout)")
            // The action was logged with who did it.
            #expect(
                daemon.log.contains("web action") && daemon.log.contains("token tester"), "\(daemon.log.suffix(2000))")
        }
    }
}
