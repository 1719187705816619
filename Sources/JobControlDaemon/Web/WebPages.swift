import Dispatch
import FoundationEssentials
import Glibc
import JobControl
import JobControlProtocol

/// The dashboard's GET routes: each reads what it shows through the control service's methods
/// (``WebApp/call(_:_:)``), then renders it with ``Pages``.
extension WebApp {
    func page(_ request: WebRequest, caller: WebCaller) async -> WebResponse {
        let segments = request.segments
        do {
            switch (segments.first, segments.count) {
            case (nil, _): return .html(try await overview(caller: caller))
            case ("jobs", 1):
                return .html(
                    Pages.jobs(
                        try await call("ListJobs")["jobs"]?.arrayValue ?? [], query: request.query, caller: caller))
            case ("jobs", 2): return .html(try await job(segments[1], query: request.query, caller: caller))
            case ("builds", 2):
                guard let id = Int64(segments[1]) else { break }
                return .html(try await build(id, query: request.query, caller: caller))
            case ("calendar", 1): return .html(try await calendar(query: request.query, caller: caller))
            default: break
            }
            return .html(Pages.notFound(request.path), status: .notFound)
        } catch {
            let status = Self.status(of: error)
            return .html(
                Pages.message(
                    title: status == .notFound ? "Not found" : "Could not load this page",
                    text: error.message ?? error.description, caller: caller),
                status: status)
        }
    }

    func overview(caller: WebCaller) async throws(VarlinkError) -> String {
        let status = try await call("Status")
        // Running builds with their progress: the same list the live updates send.
        let running = try await runningBuilds()
        let queued =
            try await call("ListBuilds", ["started": false, "finished": false, "limit": 50])["builds"]?.arrayValue ?? []
        let failures =
            (try await call("ListBuilds", ["finished": true, "success": false, "skipped": false, "limit": 10])[
                "builds"]?.arrayValue) ?? []
        let runs = try await call("NextRuns", ["count": 48])["runs"]?.arrayValue ?? []
        let notifications = (try? await call("ListNotifications", ["limit": 10]))?["notifications"]?.arrayValue ?? []
        let now = Date()
        return Pages.overview(
            status: status, running: running, queued: queued, failures: failures, runs: runs,
            notifications: notifications, window: (now, now.addingTimeInterval(86400)), caller: caller)
    }

    func job(_ id: String, query: [String: String], caller: WebCaller) async throws(VarlinkError) -> String {
        let job = try await call("GetJob", ["job": .string(id)])["job"] ?? .null
        // The graph's jobs with their status: only those related to this one (a status costs
        // storage queries; a page must not pay them for every configured job).
        let structure = Dictionary(
            await engine.config.jobs.map { ($0.id, $0.dependencies) }, uniquingKeysWith: { first, _ in first })
        var jobs: [JSONValue] = []
        let related = DependencyGraph.related(id, dependencies: structure)
        for other in related.sorted() {
            if let value = try? await call("GetJob", ["job": .string(other)])["job"] { jobs.append(value) }
        }
        let leftOut = DependencyGraph.leftOut(id, dependencies: structure, shown: related.count)
        let limit = min(max(Int64(query["limit"] ?? "") ?? 25, 1), 10_000)
        var filter: [String: JSONValue] = ["job": .string(id), "limit": .int(limit)]
        switch query["state"] {
        case "successful"?: filter.merge(["finished": true, "success": true, "skipped": false]) { $1 }
        case "failed"?: filter.merge(["finished": true, "success": false, "skipped": false]) { $1 }
        case "skipped"?: filter.merge(["skipped": true]) { $1 }
        case "running"?: filter.merge(["started": true, "finished": false]) { $1 }
        case "queued"?: filter.merge(["started": false, "finished": false]) { $1 }
        default: break
        }
        let builds = try await call("ListBuilds", filter)["builds"]?.arrayValue ?? []
        let run: JSONValue? = (try? await call("NextRuns", ["job": .string(id), "count": 5]))?["runs"]?.arrayValue?
            .first
        return Pages.job(
            job, all: jobs, builds: builds, limit: limit, state: query["state"], run: run, caller: caller,
            graphLeftOut: leftOut)
    }

    func build(_ id: Int64, query: [String: String], caller: WebCaller) async throws(VarlinkError) -> String {
        let build = try await call("GetBuild", ["id": .int(id)])["build"] ?? .null
        let groups = try await call("GetProgress", ["build": .int(id)])["groups"]?.arrayValue ?? []
        let minLevel = Int64(query["min_level"] ?? "") ?? 0
        // The first records, a few pages' worth at most (each reply stays small: LogPager).
        var logs: [JSONValue] = []
        var cut: Int64?
        for _ in 0..<Pages.logPagesShown {
            var logQuery: [String: JSONValue] = [
                "build": .int(id), "limit": .int(Int64(Pages.logRecordsShown - logs.count)),
            ]
            if minLevel > 0 { logQuery["min_level"] = .int(minLevel) }
            if let cut { logQuery["after_id"] = .int(cut) }
            let page = try await call("GetLogs", logQuery)
            logs += page["logs"]?.arrayValue ?? []
            // Cut where a reply's size ran out (next_after_id), or at the limit itself.
            cut =
                page["next_after_id"]?.intValue
                ?? (logs.count >= Pages.logRecordsShown ? logs.last?["id"]?.intValue : nil)
            if cut == nil || logs.count >= Pages.logRecordsShown { break }
        }
        return Pages.build(build, groups: groups, logs: logs, moreLogs: cut, minLevel: minLevel, caller: caller)
    }

    /// Every schedule's occurrences in a day or a week (`?day=2026-12-06&span=week`).
    func calendar(query: [String: String], caller: WebCaller) async throws(VarlinkError) -> String {
        // Midnight UTC (days are whole 86,400 s there: POSIX time has no leap seconds).
        let now = Date().timeIntervalSince1970
        let today = Date(timeIntervalSince1970: (now / 86400).rounded(.down) * 86400)
        let start = query["day"].flatMap { Timestamps.parse("\($0)T00:00:00Z") } ?? today
        let week = query["span"] == "week"
        let end = start.addingTimeInterval(week ? 7 * 86400 : 86400)
        let runs = try await call("NextRuns", ["count": 1])["runs"]?.arrayValue ?? []
        var times: [String: [Date]] = [:]
        for run in runs {
            guard let job = run["job"]?.stringValue else { continue }
            for expression in run["schedules"]?.arrayValue ?? [] {
                guard let text = expression.stringValue else { continue }
                // Calendar answers at most 1,000 times a call: go on from the last one until the
                // span's end (at most 20,000 runs of one schedule: an every-minute job's fortnight).
                var base = start.addingTimeInterval(-0.001)
                var count = 0
                while count < 20_000 {
                    guard
                        let reply = try? await call(
                            "Calendar",
                            [
                                "expression": .string(text), "base_time": .string(Timestamps.string(base)),
                                "iterations": 1000,
                            ])
                    else { break }
                    let dates = (reply["next"]?.arrayValue ?? []).compactMap { Pages.date($0) }
                    let inside = dates.filter { $0 < end }
                    times[job, default: []] += inside
                    count += inside.count
                    guard inside.count == dates.count, let last = dates.last, last > base else { break }
                    base = last
                }
            }
        }
        return Pages.calendar(times: times, runs: runs, start: start, end: end, week: week, caller: caller)
    }
}
