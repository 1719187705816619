import FoundationEssentials

extension Scheduler {
    // MARK: What comes next

    /// A scheduled job's coming occurrences and its latest outcome, for `jobctl next`.
    public struct Upcoming: Sendable {
        public var jobID: String
        public var schedules: [String]
        /// Due times (microseconds), soonest first.
        public var next: [Int64]
        /// When the first of them starts (its due time plus the job's start delay).
        public var startsAt: Int64?
        public var suspended: Bool
        public var enabled: Bool
        public var queued: Int
        public var policy: SchedulePolicy
        public var last: Occurrence?
    }

    /// Scheduled jobs (or one) with their next `count` occurrences.
    public func upcoming(jobID: String? = nil, count: Int = 1) throws(EngineError) -> [Upcoming] {
        if let jobID, jobs[jobID] == nil { throw .notScheduled(jobID) }
        return jobs.keys.sorted().filter { jobID == nil || $0 == jobID }.map { id in
            let state = jobs[id]!
            let next =
                state.nextDue.map {
                    [$0] + state.policy.occurrences(after: $0, through: .max, limit: max(0, count - 1))
                } ?? []
            return Upcoming(
                jobID: id, schedules: state.policy.schedules.map(\.text), next: next, startsAt: state.fireAt,
                suspended: suspended.contains(id), enabled: state.enabled, queued: state.queue.count,
                policy: state.policy,
                last: try? storage.occurrences(jobID: id, outcome: nil, limit: 1).first)
        }
    }

    /// Each active job's next occurrence (microseconds), without reading storage (`/metrics`).
    public func nextDues() -> [String: Int64] {
        var dues: [String: Int64] = [:]
        for (id, state) in jobs where state.enabled && !suspended.contains(id) {
            if let due = state.nextDue { dues[id] = due }
        }
        return dues
    }

    /// The soonest start among active schedules (for the daemon's status line).
    public func nextStart() -> (jobID: String, at: Int64)? {
        jobs.filter { $0.value.enabled && !suspended.contains($0.key) }
            .compactMap { entry in entry.value.fireAt.map { (entry.key, $0) } }
            .min { $0.1 < $1.1 }
    }

    public func isSuspended(_ jobID: String) -> Bool { suspended.contains(jobID) }

    /// How many jobs have a schedule, and how many of those are suspended.
    public func counts() -> (scheduled: Int, suspended: Int) {
        (jobs.count, jobs.keys.filter(suspended.contains).count)
    }
}
