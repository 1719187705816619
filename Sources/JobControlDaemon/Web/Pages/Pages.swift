import Dispatch
import FoundationEssentials
import Glibc
import JobControl

/// The dashboard's HTML: server-rendered, working without JavaScript (which only makes running
/// builds live, through Server-Sent Events), and with every value escaped. Pages are pure
/// functions of the control service's replies, so they can be rendered and tested alone.
enum Pages {
    /// `text` safe inside an element or a quoted attribute.
    static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.unicodeScalars.append(character)
            }
        }
        return result
    }

    static func escape(_ value: JSONValue?) -> String {
        guard let value, value != .null else { return "" }
        if case .string(let text) = value { return escape(text) }
        return escape(value.jsonText())
    }

    /// The whole page around `body`: navigation, who is logged in, the CSRF token for scripts.
    static func layout(title: String, caller: WebCaller, active: String = "", body: String) -> String {
        func link(_ path: String, _ name: String) -> String {
            "<a href=\"\(path)\"\(active == name ? " aria-current=\"page\"" : "")>\(name)</a>"
        }
        var account: String
        if let session = caller.session, session.cookie {
            account = """
                <span class="who">\(escape(session.who)) (\(session.level))</span>
                <form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="\(session.csrf)"><button>Log out</button></form>
                """
        } else if let level = caller.level {
            account = "<span class=\"who\">\(escape(caller.who)) (\(level))</span>"
            if caller.who == "anonymous" { account += " <a href=\"/login\">Log in</a>" }
        } else {
            account = "<a href=\"/login\">Log in</a>"
        }
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title)) · JobControl</title>
            <link rel="stylesheet" href="/static/app.css">
            <link rel="icon" href="data:,">
            <script src="/static/app.js" defer></script>
            </head><body>
            <header><nav><a class="brand" href="/">JobControl</a>\(link("/", "Overview"))\(link("/jobs", "Jobs"))\(link("/calendar", "Calendar"))<span class="account">\(account)</span></nav></header>
            <main><h1>\(escape(title))</h1>
            \(body)
            </main></body></html>
            """
    }

    /// A hidden CSRF field for a form (empty for callers without a session: bearer tokens).
    static func csrfField(_ caller: WebCaller) -> String {
        caller.session.map { "<input type=\"hidden\" name=\"csrf\" value=\"\($0.csrf)\">" } ?? ""
    }

    static func message(title: String, text: String, caller: WebCaller = WebCaller(level: nil, who: "anonymous"))
        -> String
    {
        layout(
            title: title, caller: caller,
            body:
                "<p class=\"message\">\(escape(text))</p><p><a href=\"/\">Overview</a> · <a href=\"/jobs\">Jobs</a></p>"
        )
    }

    static func notFound(_ path: String) -> String {
        message(title: "Not found", text: "Nothing is at \(path).")
    }

    static func login(caller: WebCaller, message: String?, next: String? = nil) -> String {
        layout(
            title: "Log in", caller: caller,
            body: """
                \(message.map { "<p class=\"error\">\(escape($0))</p>" } ?? "")
                <form method="post" action="/login" class="login">
                \(next.map { "<input type=\"hidden\" name=\"next\" value=\"\(escape($0))\">" } ?? "")
                <label>Token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
                <button>Log in</button>
                </form>
                <p class="hint">A token from <code>http: tokens:</code> in the daemon's configuration. The session lasts 12 hours.</p>
                """)
    }

    // MARK: - Values

    /// `2026-12-06 19:40:01` from an ISO 8601 timestamp, in a `<time>` element.
    static func time(_ value: JSONValue?) -> String {
        guard let text = value?.stringValue else { return "<span class=\"none\">—</span>" }
        var shown = text.replacing("T", with: " ")
        if let dot = shown.firstIndex(of: ".") { shown = String(shown[..<dot]) }
        shown = shown.replacing("Z", with: "").replacing("+00:00", with: "")
        return "<time datetime=\"\(escape(text))\">\(escape(shown))</time>"
    }

    static func date(_ value: JSONValue?) -> Date? {
        guard let text = value?.stringValue else { return nil }
        return Timestamps.parse(text)
    }

    /// `1 h 2 min`, `3.2 s`.
    static func duration(_ seconds: Double) -> String {
        if seconds < 60 { return seconds.decimalText(places: 1) + " s" }
        let whole = Int(seconds)
        if whole < 3600 { return "\(whole / 60) min \(whole % 60) s" }
        return "\(whole / 3600) h \(whole % 3600 / 60) min"
    }

    static func duration(of build: JSONValue) -> String {
        guard let start = date(build["start_time"]) else { return "" }
        let end = date(build["end_time"]) ?? Date()
        return duration(end.timeIntervalSince(start))
    }

    /// The badge of a build's state (`SUCCESSFUL` …) or a job's status (`success` …).
    static func badge(_ state: String) -> String {
        "<span class=\"badge \(cssClass(state))\">\(escape(state.lowercased().replacing("_", with: " ")))</span>"
    }

    static func cssClass(_ state: String) -> String {
        switch state.lowercased() {
        case "successful", "success", "delivered", "started": return "ok"
        case "failed", "missed": return "failed"
        case "outdated", "skipped", "queued": return "outdated"
        case "running", "created": return "running"
        default: return "none"
        }
    }

    static func buildLink(_ build: JSONValue?) -> String {
        guard let id = build?["id"]?.intValue else { return "" }
        return "<a href=\"/builds/\(id)\">#\(id)</a>"
    }

    static func jobLink(_ id: String) -> String {
        "<a href=\"/jobs/\(WebRequest.encode(id))\">\(escape(id))</a>"
    }

    /// `current`/`total` of a build's top-level progress groups (those without `::`) together.
    static func topProgress(_ groups: [JSONValue]) -> (current: Int64, total: Int64)? {
        // The build's own group ("", reported or summed from its children) is the whole: the
        // groups under it are in it already.
        if let root = groups.first(where: { $0["group"]?.stringValue == "" }) {
            return (root["current"]?.intValue ?? 0, root["total"]?.intValue ?? 0)
        }
        let top = groups.filter { !($0["group"]?.stringValue ?? "").contains("::") }
        guard !top.isEmpty else { return nil }
        return (
            top.reduce(0) { $0.addingSaturated($1["current"]?.intValue ?? 0) },
            top.reduce(0) { $0.addingSaturated($1["total"]?.intValue ?? 0) }
        )
    }

    static func progressBar(current: Int64, total: Int64) -> String {
        "<progress value=\"\(max(0, min(current, total)))\" max=\"\(max(total, 1))\"></progress> <span class=\"count\">\(current)/\(total)</span>"
    }

    /// A table, or a line saying there is nothing.
    static func table(_ head: [String], _ rows: [String], empty: String, id: String? = nil, attributes: String = "")
        -> String
    {
        let tbody = "<tbody\(id.map { " id=\"\($0)\"" } ?? "")>\(rows.joined())</tbody>"
        if rows.isEmpty && id == nil { return "<p class=\"none\">\(escape(empty))</p>" }
        return "<table\(attributes)><thead><tr>\(head.map { "<th>\($0)</th>" }.joined())</tr></thead>\(tbody)</table>"
            + (rows.isEmpty ? "<p class=\"none empty\">\(escape(empty))</p>" : "")
    }
}
