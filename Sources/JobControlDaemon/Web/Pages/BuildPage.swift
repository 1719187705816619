import Dispatch
import FoundationEssentials
import Glibc
import JobControl

extension Pages {
    static let levels: [(Int64, String)] = [
        (0, "all"), (10, "DEBUG"), (20, "INFO"), (30, "WARNING"), (40, "ERROR"), (50, "CRITICAL"),
    ]

    /// A build: state, times, node, resources, return value, exception and traceback, the
    /// progress tree and the log (filtered by level). While it runs, the page's script follows
    /// progress and log over Server-Sent Events.
    /// How many of a build's log records its page shows at most (the rest: `jobctl logs ID`),
    /// and in how many replies at most (fewer records when they are long).
    static let logRecordsShown = 2000
    static let logPagesShown = 4

    static func build(
        _ build: JSONValue, groups: [JSONValue], logs: [JSONValue], moreLogs: Int64?, minLevel: Int64,
        caller: WebCaller
    ) -> String {
        let id = build["id"]?.intValue ?? 0
        let job = build["job_id"]?.stringValue ?? ""
        let finished = build["finished"]?.boolValue == true
        var facts: [(String, String)] = [
            ("Job", jobLink(job)),
            ("State", badge(build["state"]?.stringValue ?? "")),
            ("Started", time(build["start_time"])),
            ("Ended", time(build["end_time"])),
            ("Duration", duration(of: build)),
            ("Node", escape(build["node"])),
        ]
        if let usage = build["usage"], usage != .null { facts.append(("Resources", resources(usage))) }
        let dependencies = build["config"]?["build"]?["dependency_builds"]?.objectValue ?? [:]
        if !dependencies.isEmpty {
            facts.append(
                (
                    "Dependency builds",
                    dependencies.sorted { $0.key < $1.key }.map {
                        "\(jobLink($0.key)) <a href=\"/builds/\($0.value.intValue ?? 0)\">#\($0.value.intValue ?? 0)</a>"
                    }.joined(separator: ", ")
                ))
        }
        if let parameters = build["config"]?["build"]?["parameters"], parameters != .null, parameters != .object([:]) {
            facts.append(("Parameters", "<code class=\"json\">\(escape(parameters.jsonText()))</code>"))
        }
        var result = ""
        if let retval = build["retval"], retval != .null {
            result +=
                "<section><h2>Return value</h2><pre class=\"json\" id=\"retval\">\(escape(retval.jsonText()))</pre></section>"
        }
        if let exception = build["exception"], exception != .null {
            let traceback = build["exception_tb"].flatMap { $0 == .null ? nil : TracebackInfo(json: $0) }
            // Python's order: the exceptions this one was raised from or while handling come first.
            var chained = ""
            for entry in traceback?.chain ?? [] {
                let link =
                    entry.relation == "cause"
                    ? "The above exception was the direct cause of the following exception:"
                    : "During handling of the above exception, another exception occurred:"
                chained +=
                    "<p><strong>\(escape(entry.type))</strong>: \(escape(entry.message))</p>\(Self.frameList(entry.frames))<p class=\"chain\">\(link)</p>"
            }
            result += """
                <section class="exception"><h2>Exception</h2>\(chained)<p><strong>\(escape(exception["type"]))</strong>: \(escape(exception["message"]))</p>
                \(Self.frameList(traceback?.frames ?? []))</section>
                """
        }
        let progressRows = groups.map { group -> String in
            let name = group["group"]?.stringValue ?? ""
            let depth = name.components(separatedBy: "::").count - 1
            return
                "<tr data-group=\"\(escape(name))\"><td class=\"depth-\(min(depth, 6))\">\(escape(name.isEmpty ? "(build)" : name.components(separatedBy: "::").last ?? name))</td><td class=\"progress\">\(progressBar(current: group["current"]?.intValue ?? 0, total: group["total"]?.intValue ?? 0))</td><td>\(escape(group["status"]))</td></tr>"
        }
        let logRows = logs.map(logRow)
        let levelOptions = levels.map {
            "<option value=\"\($0.0)\"\($0.0 == minLevel ? " selected" : "")>\($0.1)</option>"
        }.joined()
        let lastLog = logs.last?["id"]?.intValue ?? 0
        // A log cut at 2,000 records is not followed live (the rest could be millions of lines).
        let follow = moreLogs == nil ? " data-after-id=\"\(lastLog)\"" : ""
        let live = finished ? "" : " data-live-build=\"\(id)\" data-min-level=\"\(minLevel)\"\(follow)"
        var actions = ""
        if !finished && caller.may(.run) {
            actions =
                "<form method=\"post\" action=\"/builds/\(id)/cancel\" class=\"inline\">\(csrfField(caller))<button>Cancel</button></form>"
        }
        let body = """
            <div id="build"\(live)>
            <section class="definition"><dl>\(facts.map { "<dt>\(escape($0.0))</dt><dd>\($0.1)</dd>" }.joined())</dl>\(actions)</section>
            \(result)
            <section><h2>Progress</h2>\(table(["Group", "Progress", "Status"], progressRows, empty: "No progress reported.", id: "progress"))</section>
            <section><h2>Log</h2>
            <form method="get" action="/builds/\(id)" class="filters"><label>Minimum level <select name="min_level" id="min-level">\(levelOptions)</select></label><button>Show</button></form>
            \(table(["Time", "Level", "Logger", "Message"], logRows, empty: "No log record.", id: "log", attributes: " class=\"log\""))
            \(moreLogs != nil ? "<p class=\"hint\">The first \(logs.count) records are shown, and the log is not followed live; <code>jobctl logs \(id)</code> prints them all.</p>" : "")
            </section></div>
            """
        return layout(title: "Build #\(id) of \(job)", caller: caller, active: "Jobs", body: body)
    }

    /// `CPU 1.2 s (user 0.9, system 0.3) · memory peak 42.1 MiB · 3 tasks · cgroup`.
    static func resources(_ usage: JSONValue) -> String {
        func seconds(_ key: String) -> Double? { usage[key]?.intValue.map { Double($0) / 1_000_000 } }
        func mebibytes(_ key: String) -> String? {
            usage[key]?.intValue.map { (Double($0) / 1_048_576).decimalText(places: 1) + " MiB" }
        }
        var parts: [String] = []
        if let user = seconds("cpu_user_usec"), let system = seconds("cpu_system_usec") {
            parts.append(
                "CPU \((user + system).decimalText(places: 2)) s (user \(user.decimalText(places: 2)), system \(system.decimalText(places: 2)))"
            )
        }
        if let memory = mebibytes("memory_peak_bytes") { parts.append("memory peak \(memory)") }
        if let tasks = usage["tasks_peak"]?.intValue { parts.append("\(tasks) tasks at most") }
        if let read = mebibytes("io_read_bytes"), let written = mebibytes("io_write_bytes") {
            parts.append("read \(read), wrote \(written)")
        }
        if let kills = usage["oom_kills"]?.intValue, kills > 0 { parts.append("<strong>\(kills) OOM kills</strong>") }
        if let source = usage["source"]?.stringValue { parts.append("<span class=\"none\">(\(escape(source)))</span>") }
        return parts.joined(separator: " · ")
    }

    /// A traceback's frames, innermost last: place, function and the line of code.
    static func frameList(_ frames: [TracebackInfo.Frame]) -> String {
        guard !frames.isEmpty else { return "" }
        let items = frames.map { frame in
            let place = escape(frame.filename) + (frame.lineNumber.map { ":\($0)" } ?? "")
            let code = frame.line.map { "<pre>\(escape($0))</pre>" } ?? ""
            return "<li><code>\(place)</code> in <code>\(escape(frame.function))</code>\(code)</li>"
        }
        return "<ol class=\"traceback\">\(items.joined())</ol>"
    }

    static func logRow(_ record: JSONValue) -> String {
        let level = record["level"]?.intValue ?? 20
        return
            "<tr class=\"level-\(level / 10 * 10)\" data-level=\"\(level)\"><td>\(time(record["created"]))</td><td>\(escape(record["level_name"]))</td><td>\(escape(record["logger"]))</td><td class=\"message\">\(escape(record["message"]))</td></tr>"
    }
}
