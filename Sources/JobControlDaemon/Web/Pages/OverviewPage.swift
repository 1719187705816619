import Dispatch
import FoundationEssentials
import Glibc
import JobControl

extension Pages {
    static func overview(
        status: [String: JSONValue], running: [JSONValue], queued: [JSONValue],
        failures: [JSONValue], runs: [JSONValue], notifications: [JSONValue], window: (Date, Date), caller: WebCaller
    ) -> String {
        let runningRows = running.map { build -> String in
            let id = build["id"]?.intValue ?? 0
            let (current, total) = (build["current"]?.intValue ?? 0, build["total"]?.intValue ?? 0)
            return
                "<tr data-build=\"\(id)\"><td>\(buildLink(build))</td><td>\(jobLink(build["job_id"]?.stringValue ?? ""))</td><td class=\"progress\">\(total > 0 ? progressBar(current: current, total: total) : "<progress></progress>")</td><td>\(time(build["start_time"]))</td></tr>"
        }
        let failureRows = failures.map { build in
            "<tr><td>\(buildLink(build))</td><td>\(jobLink(build["job_id"]?.stringValue ?? ""))</td><td>\(time(build["end_time"]))</td><td class=\"exception\">\(escape(build["exception"]?["message"] ?? build["exception"]?["type"]))</td></tr>"
        }
        // Why didn't it run: the occurrences that did not start a build, newest first.
        var unrun: [JSONValue] = []
        for run in runs {
            for occurrence in run["recent"]?.arrayValue ?? [] {
                let outcome = occurrence["outcome"]?.stringValue ?? ""
                if ["missed", "skipped", "failed"].contains(outcome) { unrun.append(occurrence) }
            }
        }
        unrun.sort { ($0["due"]?.stringValue ?? "") > ($1["due"]?.stringValue ?? "") }
        let unrunRows = unrun.prefix(20).map { occurrence in
            "<tr><td>\(jobLink(occurrence["job"]?.stringValue ?? ""))</td><td>\(time(occurrence["due"]))</td><td>\(badge(occurrence["outcome"]?.stringValue ?? ""))</td><td>\(escape(occurrence["detail"]))</td></tr>"
        }
        var upcoming: [String: [Date]] = [:]
        for run in runs where run["suspended"]?.boolValue != true && run["enabled"]?.boolValue != false {
            guard let job = run["job"]?.stringValue else { continue }
            upcoming[job] = (run["next"]?.arrayValue ?? []).compactMap { date($0) }.filter { $0 < window.1 }
        }
        let notificationRows = notifications.map { notification -> String in
            let id = notification["id"]?.intValue ?? 0
            let state = notification["state"]?.stringValue ?? ""
            let resend =
                caller.may(.run) && state != "pending"
                ? "<form method=\"post\" action=\"/notifications/\(id)/resend\" class=\"inline\">\(csrfField(caller))<button>Send again</button></form>"
                : ""
            return
                "<tr><td>\(id)</td><td>\(escape(notification["channel"]))</td><td>\(escape(notification["event"]))</td><td>\(notification["job_id"]?.stringValue.map(jobLink) ?? "")</td><td>\(badge(state))</td><td>\(escape(notification["attempts"]))</td><td class=\"exception\">\(escape(notification["last_error"]))</td><td>\(resend)</td></tr>"
        }
        let nodes = status["cluster"]?.arrayValue ?? []
        let nodeRows = nodes.map { node in
            "<tr><td>\(escape(node["node"]))</td><td>\(badge(node["state"]?.stringValue ?? ""))</td><td>\(escape(node["host"]))</td><td>\(escape(node["running"]))/\(escape(node["workers"]))</td><td>\(escape(node["heartbeat_age"]))s</td><td>\(escape(node["version"]))</td></tr>"
        }
        let summary = """
            <dl class="summary">
            <div><dt>Running</dt><dd id="running-count">\(running.count)</dd></div>
            <div><dt>Queued</dt><dd>\(queued.count)</dd></div>
            <div><dt>Workers</dt><dd>\(escape(status["workers"]))</dd></div>
            <div><dt>Jobs</dt><dd>\(escape(status["jobs"]))</dd></div>
            <div><dt>Next run</dt><dd>\(status["next_run_job"]?.stringValue.map(jobLink) ?? "—") \(time(status["next_run"]))</dd></div>
            <div><dt>Daemon</dt><dd>\(escape(status["node"] ?? "jobcontrold")) \(escape(status["version"]))</dd></div>
            </dl>
            """
        let body = """
            \(summary)
            \(status["storage_error"].flatMap { $0.stringValue }.map { "<p class=\"error\">Storage: \(escape($0))</p>" } ?? "")
            <section><h2>Running builds</h2>
            \(table(["Build", "Job", "Progress", "Started"], runningRows, empty: "No build is running.", id: "running", attributes: " data-live-running"))
            </section>
            <section><h2>Next 24 hours</h2>
            \(Timeline.svg(times: upcoming, start: window.0, end: window.1, ticks: .hours))
            </section>
            <section><h2>Recent failures</h2>
            \(table(["Build", "Job", "Ended", "Exception"], failureRows, empty: "No failed build."))
            </section>
            <section><h2>Why didn't it run?</h2>
            \(table(["Job", "Due", "Outcome", "Reason"], unrunRows, empty: "No missed or skipped occurrence."))
            </section>
            \(notifications.isEmpty ? "" : "<section><h2>Notifications</h2>" + table(["#", "Channel", "Event", "Job", "State", "Attempts", "Last error", ""], notificationRows, empty: "") + "</section>")
            \(nodes.isEmpty ? "" : "<section><h2>Cluster</h2>" + table(["Node", "State", "Host", "Running", "Heartbeat", "Version"], nodeRows, empty: "") + "</section>")
            """
        return layout(title: "Overview", caller: caller, active: "Overview", body: body)
    }
}
