import Dispatch
import FoundationEssentials
import Glibc
import JobControl

extension Pages {
    /// A job: its definition (secrets stay `{"!secret": NAME}`), dependency graph, run form,
    /// builds (filter by state, show more) and recent occurrences.
    static func job(
        _ job: JSONValue, all: [JSONValue], builds: [JSONValue], limit: Int64, state: String?, run: JSONValue?,
        caller: WebCaller, graphLeftOut: Int = 0
    ) -> String {
        let id = job["id"]?.stringValue ?? ""
        let path = "/jobs/\(WebRequest.encode(id))"
        var definition: [(String, String)] = [
            ("Status", badge(job["status"]?.stringValue ?? "")),
            ("Function", "<code>\(escape(job["function"]))</code>"),
            (
                "Dependencies",
                (job["dependencies"]?.arrayValue ?? []).compactMap(\.stringValue).map(jobLink).joined(separator: ", ")
            ),
            ("Tags", (job["tags"]?.arrayValue ?? []).compactMap(\.stringValue).map(escape).joined(separator: ", ")),
            ("Source", "<code>\(escape(job["source"]))</code>"),
        ]
        for key in [
            "args", "kwargs", "environment", "working_directory", "user", "timeout", "pool", "resources", "parameters",
        ] {
            guard let value = job[key], value != .null, value != .array([]), value != .object([:]) else { continue }
            definition.append((key, "<code class=\"json\">\(escape(value.jsonText()))</code>"))
        }
        let schedules = (job["schedule"]?["schedule"]?.arrayValue ?? []).compactMap(\.stringValue)
        if !schedules.isEmpty {
            definition.append(("Schedule", "<code>\(escape(schedules.joined(separator: "; ")))</code>"))
            definition.append(("Next run", time(job["next_run"])))
        }
        if let title = job["title"]?.stringValue { definition.insert(("Title", escape(title)), at: 1) }
        if let notes = job["notes"]?.stringValue { definition.append(("Notes", escape(notes))) }
        if job["enabled"]?.boolValue == false { definition.append(("Enabled", "no")) }
        if job["suspended"]?.boolValue == true { definition.append(("Suspended", "yes")) }
        let rows = builds.map { build in
            "<tr><td>\(buildLink(build))</td><td>\(badge(build["state"]?.stringValue ?? ""))</td><td>\(time(build["start_time"]))</td><td>\(duration(of: build))</td><td>\(escape(build["node"]))</td><td class=\"exception\">\(escape(build["exception"]?["message"]))</td></tr>"
        }
        let stateLinks = ["all", "successful", "failed", "skipped", "running", "queued"].map { name in
            let selected = (state ?? "all") == name
            return "<a href=\"\(path)?state=\(name)\"\(selected ? " aria-current=\"true\"" : "")>\(name)</a>"
        }
        let more =
            builds.count >= Int(limit)
            ? "<p><a href=\"\(path)?limit=\(limit * 4)\(state.map { "&state=\(WebRequest.encode($0))" } ?? "")\">Show \(limit * 4) builds</a></p>"
            : ""
        let occurrences = (run?["recent"]?.arrayValue ?? []).map { occurrence in
            "<tr><td>\(time(occurrence["due"]))</td><td>\(badge(occurrence["outcome"]?.stringValue ?? ""))</td><td>\(occurrence["build"]?.intValue.map { "<a href=\"/builds/\($0)\">#\($0)</a>" } ?? "")</td><td>\(escape(occurrence["detail"]))</td></tr>"
        }
        var actions = ""
        if caller.may(.run) {
            actions = """
                <form method="post" action="\(path)/run" class="run">\(csrfField(caller))
                <label><input type="checkbox" name="force"> force</label>
                <label><input type="checkbox" name="build_deps"> build dependencies</label>
                <label><input type="checkbox" name="build_revdeps"> then dependents</label>
                <label class="parameters">Parameters (NAME=VALUE per line)<textarea name="parameters" rows="2"></textarea></label>
                <button id="run-button">Run</button>
                </form>
                """
            if job["schedule"] != nil && job["schedule"] != .null {
                let suspended = job["suspended"]?.boolValue == true
                actions +=
                    "<form method=\"post\" action=\"\(path)/\(suspended ? "resume" : "suspend")\" class=\"inline\">\(csrfField(caller))<button>\(suspended ? "Resume schedule" : "Suspend schedule")</button></form>"
            }
        }
        let body = """
            <section class="definition"><dl>\(definition.map { "<dt>\(escape($0.0))</dt><dd>\($0.1)</dd>" }.joined())</dl></section>
            \(actions.isEmpty ? "" : "<section><h2>Run</h2>\(actions)</section>")
            <section><h2>Dependencies</h2>\(DependencyGraph.svg(focus: id, jobs: all))\(graphLeftOut > 0 ? "<p class=\"note\">\(graphLeftOut) more related jobs, further away, are not drawn.</p>" : "")
            <p class="legend"><span class="badge ok">successful</span> <span class="badge outdated">outdated</span> <span class="badge failed">failed</span> <span class="badge running">running</span> <span class="badge none">not built</span></p></section>
            <section><h2>Builds</h2><p class="filters">\(stateLinks.joined(separator: " · "))</p>
            \(table(["Build", "State", "Started", "Duration", "Node", "Exception"], rows, empty: "No build."))\(more)</section>
            \(occurrences.isEmpty ? "" : "<section><h2>Occurrences</h2>" + table(["Due", "Outcome", "Build", "Detail"], occurrences, empty: "") + "</section>")
            """
        return layout(title: id, caller: caller, active: "Jobs", body: body)
    }
}
