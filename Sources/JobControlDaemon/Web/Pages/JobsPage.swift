import Dispatch
import FoundationEssentials
import Glibc
import JobControl

extension Pages {
    /// Every job with its status, last build, next run, schedule and tags; `?tag=` and
    /// `?status=` filter.
    static func jobs(_ jobs: [JSONValue], query: [String: String], caller: WebCaller) -> String {
        let tag = query["tag"].flatMap { $0.isEmpty ? nil : $0 }
        let status = query["status"].flatMap { $0.isEmpty ? nil : $0 }
        let tags = Set(jobs.flatMap { ($0["tags"]?.arrayValue ?? []).compactMap(\.stringValue) }).sorted()
        let statuses = ["success", "failed", "outdated", "running", "not_built"]
        let shown = jobs.filter { job in
            (tag.map { t in (job["tags"]?.arrayValue ?? []).contains(.string(t)) } ?? true)
                && (status.map { job["status"]?.stringValue == $0 } ?? true)
        }
        let rows = shown.map { job -> String in
            let id = job["id"]?.stringValue ?? ""
            let schedules = (job["schedule"]?["schedule"]?.arrayValue ?? []).compactMap(\.stringValue)
            let tagLinks = (job["tags"]?.arrayValue ?? []).compactMap(\.stringValue).map {
                "<a class=\"tag\" href=\"/jobs?tag=\(WebRequest.encode($0))\">\(escape($0))</a>"
            }
            let state =
                job["enabled"]?.boolValue == false
                ? " <span class=\"badge none\">disabled</span>"
                : job["suspended"]?.boolValue == true ? " <span class=\"badge none\">suspended</span>" : ""
            return
                "<tr data-job=\"\(escape(id))\"><td>\(jobLink(id))<div class=\"title\">\(escape(job["title"]))</div></td><td>\(badge(job["status"]?.stringValue ?? ""))\(state)</td><td>\(job["last_build"]?.intValue.map { "<a href=\"/builds/\($0)\">#\($0)</a>" } ?? "—")</td><td>\(time(job["next_run"]))</td><td><code>\(escape(schedules.joined(separator: "; ")))</code></td><td>\(tagLinks.joined(separator: " "))</td></tr>"
        }
        func options(_ values: [String], _ selected: String?) -> String {
            "<option value=\"\">all</option>"
                + values.map { "<option\($0 == selected ? " selected" : "")>\(escape($0))</option>" }.joined()
        }
        let body = """
            <form method="get" action="/jobs" class="filters">
            <label>Tag <select name="tag">\(options(tags, tag))</select></label>
            <label>Status <select name="status">\(options(statuses, status))</select></label>
            <button>Filter</button>
            </form>
            \(table(["Job", "Status", "Last build", "Next run", "Schedule", "Tags"], rows, empty: "No job matches."))
            """
        return layout(title: "Jobs", caller: caller, active: "Jobs", body: body)
    }
}
