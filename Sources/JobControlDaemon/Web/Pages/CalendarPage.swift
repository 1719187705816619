import Dispatch
import FoundationEssentials
import Glibc
import JobControl

extension Pages {
    /// Every schedule's runs in a day or a week, with links to the previous and next one.
    static func calendar(
        times: [String: [Date]], runs: [JSONValue], start: Date, end: Date, week: Bool, caller: WebCaller
    ) -> String {
        let span = week ? "week" : "day"
        let step: TimeInterval = week ? 7 * 86400 : 86400
        func day(_ date: Date) -> String { String(Timestamps.string(date, fractional: false).prefix(10)) }
        let navigation = """
            <form method="get" action="/calendar" class="filters">
            <a href="/calendar?day=\(day(start.addingTimeInterval(-step)))&amp;span=\(span)">← previous</a>
            <label>Day <input type="date" name="day" value="\(day(start))"></label>
            <label>Span <select name="span"><option value="day"\(week ? "" : " selected")>day</option><option value="week"\(week ? " selected" : "")>week</option></select></label>
            <button>Show</button>
            <a href="/calendar?day=\(day(start.addingTimeInterval(step)))&amp;span=\(span)">next →</a>
            </form>
            """
        let rows = times.keys.sorted().map { job in
            "<tr><td>\(jobLink(job))</td><td>\(times[job]?.count ?? 0)</td><td><code>\(escape((runs.first { $0["job"]?.stringValue == job }?["schedules"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: "; ")))</code></td></tr>"
        }
        let body = """
            \(navigation)
            <p class="hint">Times are UTC. \(day(start))\(week ? " to \(day(end.addingTimeInterval(-1)))" : "").</p>
            \(Timeline.svg(times: times, start: start, end: end, ticks: week ? .days : .hours))
            \(table(["Job", "Runs", "Schedule"], rows, empty: "No schedule has a run in this time."))
            """
        return layout(title: "Calendar", caller: caller, active: "Calendar", body: body)
    }
}
