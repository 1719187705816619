import Foundation
import JobControl
import JobControlProtocol
import NIOHTTP1
import Testing

@testable import JobControlDaemon

/// The dashboard's parts alone: the Varlink interface parser the OpenAPI document comes from,
/// the document, escaping, the dependency graph's layout, sessions and CSRF tokens.
@Suite struct WebUnitTests {
    @Test func everyInterfaceParses() throws {
        for (name, text) in Interfaces.all {
            let idl = try VarlinkIDL(parsing: text)
            #expect(idl.name == name)
        }
        let manager = try VarlinkIDL(parsing: Interfaces.managerDescription)
        // Every method the service answers is in the description, and the other way round.
        #expect(Set(manager.methods.map(\.name)) == Set(ControlService.requiredLevel.keys))
        let run = try #require(manager.methods.first { $0.name == "RunJob" })
        #expect(run.input.first { $0.name == "pins" }?.type == .optional(.map(.int)))
        #expect(run.output.first?.type == .named("Build"))
        #expect(!run.doc.isEmpty)
        let job = try #require(manager.types.first { $0.name == "Job" })
        guard case .structure(let fields)? = job.type else { throw TestFailure("Job is a structure") }
        #expect(fields.first { $0.name == "args" }?.type == .array(.object))
    }

    @Test func parserReportsTheLine() {
        #expect(throws: VarlinkIDL.ParseError.self) {
            try VarlinkIDL(parsing: "interface a.b\n\nmethod X(a: int) => ()\n")
        }
        do {
            _ = try VarlinkIDL(parsing: "interface a.b\n\nmethod X(a: int) => ()\n")
        } catch {
            #expect(error.line == 3, "\(error)")
        }
        let enums = try? VarlinkIDL(
            parsing: "interface a.b\ntype Colour (red, green)\nmethod M(c: Colour, s: (x: int, y: ?[]string)) -> ()")
        #expect(enums?.types.first?.type == .enumeration(["red", "green"]))
        #expect(
            enums?.methods.first?.input.last?.type
                == .structure([
                    VarlinkIDL.Field(name: "x", type: .int, doc: ""),
                    VarlinkIDL.Field(name: "y", type: .optional(.array(.string)), doc: ""),
                ]))
    }

    @Test func openAPIDocumentDescribesEveryMethod() throws {
        let document = OpenAPIDocument.make(version: "1.2.3")
        #expect(document["openapi"] == "3.0.3")
        let paths = try #require(document["paths"]?.objectValue)
        for method in ControlService.requiredLevel.keys {
            let path = try #require(paths["/api/v1/\(method)"], "\(method)")
            #expect(path["post"] != nil)
            // Only reading methods are GETs.
            #expect((path["get"] != nil) == (ControlService.requiredLevel[method] == .read), "\(method)")
        }
        #expect(document["components"]?["schemas"]?["Build"]?["properties"]?["id"] != nil)
    }

    @Test func queryParametersAreTyped() throws {
        let fields = WebApp.methods["GetLogs"] ?? []
        let values = try WebApp.queryParameters(["build": "7", "min_level": "30", "other": "x"], fields: fields)
        #expect(values == ["build": 7, "min_level": 30])
        #expect(throws: VarlinkError.self) { try WebApp.queryParameters(["build": "seven"], fields: fields) }
        let builds = try WebApp.queryParameters(
            ["finished": "true", "job": "a"], fields: WebApp.methods["ListBuilds"] ?? [])
        #expect(builds == ["finished": true, "job": "a"])
    }

    /// What a client sent is logged with its control characters escaped: a job id with a
    /// newline in a URL wrote a forged log line.
    @Test func loggedClientTextCannotForgeALine() {
        #expect("a\n2026 notice forged".escapingControls == "a\\u{a}2026 notice forged")
        #expect("plain-id".escapingControls == "plain-id")
    }

    /// With anonymous access, a TCP request must name this daemon: a page that rebinds its own
    /// name to 127.0.0.1 (DNS rebinding) would otherwise read the dashboard through a visitor's
    /// browser. Without anonymous access there is nothing to read that way, and no check.
    @Test func anonymousAccessAnswersOnlyThisDaemonsNames() throws {
        let config = try ConfigLoader.parse(
            yaml: "http: {listen: '127.0.0.1:9187', anonymous: read, hosts: [jobs.example.org]}\njobs: []\n",
            file: "t.yaml")
        let http = try #require(config.http)
        for allowed in [
            "127.0.0.1:9187", "127.0.0.1", "10.1.2.3:80", "[::1]:9187", "localhost:9187", "LOCALHOST", "a.localhost",
            "jobs.example.org", "Jobs.Example.Org.:443", nil,
        ] {
            #expect(http.allowsHost(allowed), "\(allowed ?? "no Host") was refused")
        }
        for refused in ["attacker.example:9187", "attacker.example", "127.0.0.1.attacker.example", "localhost.evil"] {
            #expect(!http.allowsHost(refused), "\(refused) was allowed")
        }
        var closed = http
        closed.anonymous = nil
        #expect(closed.allowsHost("attacker.example"))
    }

    /// A build's top-level groups may each report up to Int64.max: their sum on the overview is
    /// held there instead of trapping in the daemon.
    @Test func topProgressSumsSaturate() {
        let groups: [JSONValue] = [
            ["group": "a", "current": .int(.max), "total": .int(.max)],
            ["group": "b", "current": .int(.max), "total": .int(.max)],
            ["group": "a::c", "current": 1, "total": 1],
        ]
        let top = Pages.topProgress(groups)
        #expect(top?.current == .max && top?.total == .max)
    }

    /// The build's own group is the whole (as the build reported it, or summed from its
    /// children by the daemon): the groups under it are not counted a second time.
    @Test func topProgressIsTheBuildsOwnGroupWhenThereIsOne() {
        let reported: [JSONValue] = [
            ["group": "", "current": 9, "total": 10], ["group": "x", "current": 0, "total": 100],
        ]
        #expect(Pages.topProgress(reported).map { [$0.current, $0.total] } == [9, 10])
        let summed: [JSONValue] = [
            ["group": "", "current": 1, "total": 10], ["group": "a", "current": 1, "total": 10],
            ["group": "a::b", "current": 1, "total": 10],
        ]
        #expect(Pages.topProgress(summed).map { [$0.current, $0.total] } == [1, 10])
    }

    @Test func everythingShownIsEscaped() {
        let hostile = #"<script>alert("x")</script>&'"#
        #expect(Pages.escape(hostile) == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;")
        let jobs: [JSONValue] = [
            [
                "id": .string(hostile), "status": "failed", "dependencies": [], "tags": [.string(hostile)],
                "title": .string(hostile),
            ]
        ]
        let page = Pages.jobs(jobs, query: [:], caller: WebCaller(level: .read, who: "anonymous"))
        #expect(!page.contains("<script>alert"))
        let graph = DependencyGraph.svg(focus: hostile, jobs: jobs)
        #expect(!graph.contains("<script>alert") && graph.contains("node failed"))
    }

    /// A failed build's page shows its traceback as Python does: each frame's line of code, and
    /// the exceptions it was raised from first, everything escaped.
    @Test func aBuildPageShowsTheTracebackAndItsChain() {
        let traceback = TracebackInfo(
            frames: [.init(filename: "tasks.py", lineNumber: 50, function: "run", line: "raise ValueError('<b>')")],
            chain: [
                .init(
                    type: "KeyError", message: "'<missing>'", relation: "cause",
                    frames: [.init(filename: "tasks.py", lineNumber: 46, function: "run", line: "{}['missing']")])
            ])
        let build: JSONValue = [
            "id": 7, "job_id": "j", "state": "failed", "finished": true,
            "exception": ["type": "ValueError", "message": "<b>"], "exception_tb": traceback.json,
        ]
        let page = Pages.build(
            build, groups: [], logs: [], moreLogs: nil, minLevel: 0, caller: WebCaller(level: .read, who: "anonymous"))
        let order = [
            "KeyError", "tasks.py:46", "{}[&#39;missing&#39;]", "direct cause of the following exception",
            "tasks.py:50", "raise ValueError(&#39;&lt;b&gt;&#39;)",
        ].map { page.range(of: $0)?.lowerBound }
        #expect(!order.contains(nil) && order.map { $0! } == order.map { $0! }.sorted(), "\(page)")
        #expect(!page.contains("<b>"))
    }

    @Test func graphShowsUpstreamAndDownstreamOnly() {
        let jobs: [JSONValue] = [
            ["id": "a", "status": "success", "dependencies": []],
            ["id": "b", "status": "outdated", "dependencies": ["a"]],
            ["id": "c", "status": "not_built", "dependencies": ["b"]],
            ["id": "x", "status": "failed", "dependencies": ["a"]],
        ]
        let graph = DependencyGraph.svg(focus: "b", jobs: jobs)
        #expect(graph.contains(#"data-job="a""#) && graph.contains(#"data-job="c""#))
        #expect(!graph.contains(#"data-job="x""#))
        #expect(graph.components(separatedBy: "class=\"edge\"").count - 1 == 2)
    }

    /// A job at the end of a 20,000-job chain: the page draws the nearest jobs and says how many
    /// it left out (it recursed once per link and overflowed the stack at 10,000).
    @Test func aLongChainIsDrawnNearTheJob() {
        let count = 20_000
        let jobs: [JSONValue] = (0..<count).map { index in
            [
                "id": .string("j\(index)"), "status": "not_built",
                "dependencies": index == 0 ? [] : [.string("j\(index - 1)")],
            ]
        }
        let structure = Dictionary(uniqueKeysWithValues: (0..<count).map { ("j\($0)", $0 == 0 ? [] : ["j\($0 - 1)"]) })
        let related = DependencyGraph.related("j\(count - 1)", dependencies: structure)
        #expect(related.count == DependencyGraph.maxShown && related.contains("j\(count - 2)"))
        #expect(
            DependencyGraph.leftOut("j\(count - 1)", dependencies: structure, shown: related.count) == count
                - related.count)
        let graph = DependencyGraph.svg(focus: "j\(count - 1)", jobs: jobs)
        #expect(graph.components(separatedBy: "class=\"edge\"").count - 1 == DependencyGraph.maxShown - 1)
    }

    @Test func sessionsAndCSRF() {
        let sessions = WebSessions()
        let session = sessions.create(level: .run, who: "token ops", token: "0123456789abcdef")
        #expect(session.id.count == 64 && session.csrf.count == 64 && session.id != session.csrf)
        #expect(sessions.session(session.id)?.who == "token ops")
        #expect(sessions.session(session.id, now: Date().addingTimeInterval(13 * 3600)) == nil)
        #expect(sessions.session(session.id) == nil, "an expired session is gone")
        // Logging in again and again with one token pushes out that token's oldest sessions only.
        let other = sessions.create(level: .read, who: "token b", token: "bbbbbbbbbbbbbbbb")
        var mine: [WebSessions.Session] = []
        for index in 0..<(WebSessions.perToken + 5) {
            mine.append(
                sessions.create(
                    level: .run, who: "token a", token: "aaaaaaaaaaaaaaaa",
                    now: Date().addingTimeInterval(Double(index))))
        }
        #expect(sessions.session(other.id) != nil)
        #expect(sessions.session(mine[0].id) == nil && sessions.session(mine[mine.count - 1].id) != nil)
        #expect(
            WebSessions.sameToken("abc", "abc") && !WebSessions.sameToken("abc", "abd")
                && !WebSessions.sameToken("", ""))
    }

    @Test func loginSendsOnlyToThisSite() {
        #expect(WebApp.localPath("/jobs/a?x=1") == "/jobs/a?x=1")
        for hostile in ["//evil.example", "/\\evil.example", "https://evil.example", "/\t/evil.example", "jobs"] {
            #expect(WebApp.localPath(hostile) == nil, "\(hostile)")
        }
    }

    @Test func tokensGivenAsSecretsAreChecked() throws {
        func errors(_ yaml: String) -> String {
            do {
                _ = try ConfigLoader.parse(yaml: yaml, file: "t.yaml")
                return ""
            } catch {
                return "\(error)"
            }
        }
        #expect(
            errors("secret: {t: short}\nhttp: {tokens: [{token: !secret t, level: read}]}\njobs: []").contains(
                "at least 16"))
        #expect(errors("http: {tokens: [{token: !secret nope, level: read}]}\njobs: []").contains("no secret 'nope'"))
        #expect(
            errors("secret: {t: 0123456789abcdefgh}\nhttp: {tokens: [{token: !secret t, level: read}]}\njobs: []")
                .isEmpty)
        #expect(errors("http: {socket: relative.sock}\njobs: []").contains("absolute path"))
    }

    /// A reload after an edit elsewhere in the file does not report the listener as changed.
    @Test func whereHTTPIsWrittenDoesNotChangeIt() throws {
        let yaml = "http: {listen: '127.0.0.1:0', anonymous: read}\njobs: []\n"
        let first = try ConfigLoader.parse(yaml: yaml, file: "t.yaml")
        let moved = try ConfigLoader.parse(yaml: "# a comment\n\n" + yaml, file: "t.yaml")
        #expect(first.http?.location != moved.http?.location)
        #expect(first.http == moved.http)
    }

    @Test func requestParsing() {
        let head = HTTPRequestHead(
            version: .http1_1, method: .GET, uri: "/jobs/a%2Fb?tag=x+y&status=failed",
            headers: ["Cookie": "a=1; jobcontrol_session=abc"])
        let request = WebRequest(head: head, body: Array("csrf=t%26k&force=on".utf8))
        #expect(request.segments == ["jobs", "a/b"])
        #expect(request.query == ["tag": "x y", "status": "failed"])
        #expect(request.cookies["jobcontrol_session"] == "abc")
        #expect(request.form == ["csrf": "t&k", "force": "on"])
        #expect(!request.isProxied)
        let proxied = WebRequest(
            head: HTTPRequestHead(
                version: .http1_1, method: .GET, uri: "/", headers: ["X-Forwarded-For": "203.0.113.9"]))
        #expect(proxied.isProxied)
    }
}
