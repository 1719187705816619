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
                  - id: slow
                    command: |
                      jobctl progress 1 3
                      while [ ! -e '\(gates)/1' ]; do sleep 0.05; done
                      jobctl progress 2 3
                      while [ ! -e '\(gates)/2' ]; do sleep 0.05; done
                      jobctl progress 3 3
                """)
    }

    @Test func browser() async throws {
        let gates = try TemporaryDirectory()
        let daemon = try await Self.daemon(gates: gates.path)
        // b is built on a's first build, then a is built again: b is outdated; c failed; d and
        // e were never built.
        for job in ["a", "b", "a", "c", "chatty"] { _ = try await daemon.jobctl("run", job, "--wait") }
        let port = try await MetricsTests.port(of: daemon)
        let result = try await runProcess(
            "/usr/bin/env",
            [
                "python3", "\(Self.scripts)/browser_test.py", "http://127.0.0.1:\(port)", Self.token, gates.path,
                Self.screenshots,
            ], timeout: .seconds(240))
        #expect(
            result.status == 0, "browser test:\n\(result.stdout)\n\(result.stderr)\ndaemon:\n\(daemon.log.suffix(3000))"
        )
        #expect(result.stdout.contains("ok: the log's level filter works"), "\(result.stdout)")
        // The action was logged with who did it.
        #expect(daemon.log.contains("web action") && daemon.log.contains("token tester"), "\(daemon.log.suffix(2000))")
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
        // A followed log streams Server-Sent Events and ends with `end`.
        let events = try await runProcess(
            "/usr/bin/curl", ["-sN", "-H", "Accept: text/event-stream", "\(base)/GetLogs?build=\(chatty)&follow=1"])
        #expect(events.stdout.contains("event: reply") && events.stdout.contains("warn-line"), "\(events.stdout)")
        #expect(events.stdout.hasSuffix("event: end\ndata: {}\n\n"), "\(events.stdout)")
    }
}
