import Dispatch
import FoundationEssentials
import Glibc
import JobControl

/// Scheduled runs on a time axis, one row per job, as SVG (the overview's next 24 hours and the
/// calendar's day or week).
enum Timeline {
    enum Ticks { case hours, days }

    static func svg(times: [String: [Date]], start: Date, end: Date, ticks: Ticks) -> String {
        let jobs = times.keys.sorted().filter { !(times[$0] ?? []).isEmpty }
        guard !jobs.isEmpty else { return "<p class=\"none\">Nothing is scheduled in this time.</p>" }
        let label = 200
        let width = 1000
        let row = 22
        let height = 30 + jobs.count * row
        let span = end.timeIntervalSince(start)
        func x(_ date: Date) -> Int { label + Int(Double(width - label - 10) * date.timeIntervalSince(start) / span) }
        var svg =
            "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\">"
        let step: TimeInterval = ticks == .hours ? (span <= 86400 ? 3 * 3600 : 86400) : 86400
        var tick = Date(timeIntervalSince1970: (start.timeIntervalSince1970 / step).rounded(.up) * step)
        while tick <= end {
            let position = x(tick)
            // 2026-12-06T19:00:00Z: the hour (UTC) within a day, the date across days.
            let stamp = Timestamps.string(tick, fractional: false)
            let text = step < 86400 ? String(stamp.dropFirst(11).prefix(5)) : String(stamp.prefix(10))
            svg +=
                "<line class=\"tick\" x1=\"\(position)\" y1=\"14\" x2=\"\(position)\" y2=\"\(height)\"/><text class=\"label\" x=\"\(position + 2)\" y=\"11\">\(Pages.escape(text))</text>"
            tick = tick.addingTimeInterval(step)
        }
        for (index, job) in jobs.enumerated() {
            let y = 30 + index * row
            svg +=
                "<g class=\"row\" data-job=\"\(Pages.escape(job))\"><a href=\"/jobs/\(WebRequest.encode(job))\"><text x=\"4\" y=\"\(y + 4)\">\(Pages.escape(job.count > 28 ? String(job.prefix(27)) + "…" : job))</text></a>"
            let dates = times[job] ?? []
            // A dense schedule (every minute) is drawn as a bar, not thousands of dots.
            if dates.count > 200, let first = dates.first, let last = dates.last {
                svg +=
                    "<rect class=\"dense\" x=\"\(x(first))\" y=\"\(y - 5)\" width=\"\(max(2, x(last) - x(first)))\" height=\"10\"><title>\(dates.count) runs</title></rect>"
            } else {
                for date in dates {
                    svg +=
                        "<circle class=\"run\" cx=\"\(x(date))\" cy=\"\(y)\" r=\"4\"><title>\(Pages.escape(job)) \(Pages.escape(Timestamps.string(date, fractional: false)))</title></circle>"
                }
            }
            svg += "</g>"
        }
        return svg + "</svg>"
    }
}
