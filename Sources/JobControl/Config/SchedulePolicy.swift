import Dispatch
import FoundationEssentials
import Glibc

/// When a job runs by itself, and what happens when an occurrence is missed, late, or due while
/// the previous build still runs. Read from the job keys `schedule`, `timezone`, `persistent`,
/// `catch_up`, `catch_up_window`, `randomized_delay`, `fixed_random_delay`, `concurrency` and
/// `start_deadline`.
public struct SchedulePolicy: Sendable, Hashable {
    /// One or more schedules; an occurrence of any of them runs the job.
    public var schedules: [Schedule]
    /// The parameter values each schedule gives its builds (`{cron: …, parameters: {…}}`), by
    /// the schedule's index; empty when no schedule gives any.
    public var scheduleParameters: [[String: ConfigValue]] = []
    /// The zone for expressions that name none (`timezone:`); nil = local time.
    public var timezone: String?
    /// After downtime, run what was missed (systemd's `Persistent=`).
    public var persistent = false
    /// Which missed occurrences a persistent job catches up.
    public var catchUp: CatchUp = .latest
    /// Only occurrences this recent are caught up (nil: any age).
    public var catchUpWindow: TimeInterval?
    /// Each start is delayed by up to this many seconds, to spread load.
    public var randomizedDelay: TimeInterval = 0
    /// The delay is the same for every occurrence of the job (derived from its id), as systemd's
    /// `FixedRandomDelay=`: starts are spread across jobs but regular for each.
    public var fixedRandomDelay = false
    /// What an occurrence does when a build of the job is still running.
    public var concurrency: Concurrency = .forbid
    /// An occurrence that cannot start within this many seconds of its due time is recorded as
    /// missed instead of running late (nil: it runs however late).
    public var startDeadline: TimeInterval?

    public init(schedules: [Schedule]) {
        self.schedules = schedules
    }

    public enum CatchUp: String, Sendable, Hashable, CaseIterable {
        /// One build, for the most recent missed occurrence.
        case latest
        /// One build per missed occurrence (within `catch_up_window`), oldest first.
        case all
    }

    public enum Concurrency: String, Sendable, Hashable, CaseIterable {
        /// Start another build alongside.
        case allow
        /// Skip the occurrence and record it as skipped (the default: a backup that is still
        /// running is not started twice).
        case forbid
        /// Cancel the running build, then start.
        case replace
        /// Start when the running build has finished.
        case queue
    }

    /// The next occurrence of any schedule strictly after `instant` (microseconds).
    public func next(after instant: Int64, bootTime: Int64? = nil) -> Int64? {
        schedules.compactMap { $0.next(after: instant, bootTime: bootTime) }.min()
    }

    /// The parameter values for the occurrence `due`: those of the first schedule (in the order
    /// written) that elapses at `due`. Two schedules elapsing together make one occurrence.
    public func parameters(at due: Int64, bootTime: Int64? = nil) -> [String: ConfigValue] {
        guard !scheduleParameters.isEmpty else { return [:] }
        for (index, schedule) in schedules.enumerated() where index < scheduleParameters.count {
            if schedule.rule == .reboot ? bootTime == due : schedule.next(after: due - 1, bootTime: bootTime) == due {
                return scheduleParameters[index]
            }
        }
        return [:]
    }

    /// The start delay of the occurrence `due`, in microseconds: fixed per job, or pseudo-random
    /// per occurrence (so a restart computes the same delay for the same occurrence).
    public func startDelay(jobID: String, due: Int64) -> Int64 {
        guard randomizedDelay > 0 else { return 0 }
        let span = UInt64(randomizedDelay * 1_000_000)
        let seed =
            fixedRandomDelay ? Self.hash(jobID) : Self.hash(jobID) ^ UInt64(bitPattern: due) &* 0x9E37_79B9_7F4A_7C15
        return Int64(Self.mix(seed) % max(span, 1))
    }

    /// FNV-1a: stable across runs and hosts (Swift's `Hasher` is seeded per process).
    static func hash(_ text: String) -> UInt64 {
        text.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }

    /// splitmix64's finalizer, so neighbouring seeds give unrelated delays.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// As shown by `jobctl show`.
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "schedule": .array(schedules.map { .string($0.text) }),
            "persistent": .bool(persistent),
            "concurrency": .string(concurrency.rawValue),
        ]
        if let timezone { object["timezone"] = .string(timezone) }
        if persistent { object["catch_up"] = .string(catchUp.rawValue) }
        if let catchUpWindow { object["catch_up_window"] = .double(catchUpWindow) }
        if randomizedDelay > 0 { object["randomized_delay"] = .double(randomizedDelay) }
        if fixedRandomDelay { object["fixed_random_delay"] = true }
        if let startDeadline { object["start_deadline"] = .double(startDeadline) }
        return .object(object)
    }
}

extension SchedulePolicy {
    /// The occurrences in `start` (exclusive) … `end` (inclusive), oldest first, at most `limit`.
    public func occurrences(after start: Int64, through end: Int64, limit: Int) -> [Int64] {
        var result: [Int64] = []
        var cursor = start
        while result.count < limit, let next = next(after: cursor), next <= end {
            result.append(next)
            cursor = next
        }
        return result
    }

    /// The newest `count` occurrences in `lower` (exclusive) … `end` (inclusive), oldest first,
    /// found by scanning growing windows back from `end` (a per-second schedule after a month of
    /// downtime has millions; only the newest matter). `complete` is false when older ones exist.
    public func newestOccurrences(after lower: Int64, through end: Int64, count: Int) -> (dues: [Int64], complete: Bool)
    {
        guard end > lower, count > 0 else { return ([], true) }
        var window: Int64 = 60_000_000
        while true {
            let start = max(lower, end - window)
            let found = occurrences(after: start, through: end, limit: 1_000_000)
            if found.count >= count || start == lower {
                return (Array(found.suffix(count)), start == lower && found.count <= count)
            }
            window = window.multipliedReportingOverflow(by: 4).overflow ? end - lower : window * 4
        }
    }

    /// The latest occurrence in `lower` (exclusive) … `end` (inclusive), found by scanning
    /// growing windows back from `end`, so a frequent schedule after long downtime costs little.
    public func latestOccurrence(after lower: Int64, through end: Int64) -> Int64? {
        var window: Int64 = 60_000_000
        while true {
            let start = max(lower, end - window)
            if let latest = occurrences(after: start, through: end, limit: 1_000_000).last { return latest }
            if start == lower { return nil }
            window = window.multipliedReportingOverflow(by: 4).overflow ? end - lower : window * 4
        }
    }
}
