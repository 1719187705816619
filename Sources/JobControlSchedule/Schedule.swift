import FoundationEssentials
import JobControlModel

/// One schedule of a job: when its occurrences fall.
public enum ScheduleRule: Sendable, Hashable {
    /// A systemd calendar expression.
    case calendar(CalendarSpec)
    /// A five-field cron expression.
    case cron(CronExpression)
    /// `every: 15m`: occurrences at whole multiples of the interval since the Unix epoch, so they
    /// are the same instants whenever and wherever the daemon starts.
    case interval(seconds: Int64)
    /// Cron's `@reboot`: one occurrence per boot of the machine, at its boot time.
    case reboot
}

/// A schedule as configured: the rule, the text it was written as, and the zone its wall-clock
/// times are in. Immutable.
public struct Schedule: Sendable, Hashable, CustomStringConvertible {
    public let rule: ScheduleRule
    /// As written in the configuration (`Mon..Fri 9:00`, `30 2 * * *`, `every 15m`).
    public let text: String
    /// Where wall-clock times are read: the expression's own zone, else the job's `timezone`,
    /// else local time.
    public let zone: ZoneRules

    public init(rule: ScheduleRule, text: String, zone: ZoneRules) {
        self.rule = rule
        self.text = text
        self.zone = zone
    }

    /// Parses a schedule string: five fields or `@word` is cron (`@1700000000` is a calendar
    /// timestamp), anything else a calendar expression. `zone` is the job's `timezone`.
    public static func parse(_ text: String, zone: ZoneRules? = nil) throws(ScheduleError) -> Schedule {
        let trimmed = text.trimmingBlanks()
        let local = zone ?? .local()
        if trimmed.asciiLowercased == "@reboot" {
            return Schedule(rule: .reboot, text: trimmed, zone: local)
        }
        let fields = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" })
        // `@SECONDS`, read as systemd reads it (strtoull: blanks, then an optional `+`, first).
        let isTimestamp =
            trimmed.hasPrefix("@")
            && trimmed.utf8.dropFirst().drop(while: CalendarScanner.isCBlank).drop(while: { $0 == UInt8(ascii: "+") })
                .first.map { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) } == true
        if (trimmed.hasPrefix("@") && !isTimestamp) || fields.count == 5 {
            return try cron(trimmed, zone: local)
        }
        return try calendar(trimmed, zone: local)
    }

    /// A calendar expression; `zone` is for expressions that name none.
    public static func calendar(_ text: String, zone: ZoneRules) throws(ScheduleError) -> Schedule {
        let spec = try CalendarSpec(parsing: text, localZone: zone)
        return Schedule(rule: .calendar(spec), text: text, zone: spec.zone(default: zone))
    }

    /// A five-field cron expression, read in `zone`.
    public static func cron(_ text: String, zone: ZoneRules) throws(ScheduleError) -> Schedule {
        Schedule(rule: .cron(try CronExpression(parsing: text)), text: text, zone: zone)
    }

    /// Any form a person types (`jobctl calendar`, Varlink `Calendar`): `every 15m`, or what
    /// ``parse(_:zone:)`` reads.
    public static func parse(expression text: String, zone: ZoneRules? = nil) throws(ScheduleError) -> Schedule {
        text.hasPrefix("every ") ? try interval(String(text.dropFirst(6))) : try parse(text, zone: zone)
    }

    /// `every: 15m`.
    public static func interval(_ text: String) throws(ScheduleError) -> Schedule {
        guard let seconds = DurationParser.seconds(text), seconds >= 1, seconds == seconds.rounded() else {
            throw .invalidInterval(text, reason: "expected a whole number of seconds, from 1s to 100 years")
        }
        return Schedule(rule: .interval(seconds: Int64(seconds)), text: "every \(text)", zone: .utc)
    }

    /// The first occurrence strictly after `instant` (microseconds since the epoch), or nil when
    /// there is none. `bootTime` is when the machine booted (for `@reboot`).
    public func next(after instant: Int64, bootTime: Int64? = nil) -> Int64? {
        switch rule {
        case .calendar(let spec):
            var clock = CivilClock(zone: zone)
            return spec.nextElapse(after: instant, clock: &clock)
        case .cron(let cron):
            let seconds = instant.floorDivided(by: 1_000_000).quotient
            return cron.nextFiring(after: seconds, zone: zone).map { $0 * 1_000_000 }
        case .interval(let seconds):
            let step = seconds * 1_000_000
            return (instant.floorDivided(by: step).quotient + 1) * step
        case .reboot:
            guard let bootTime, bootTime > instant else { return nil }
            return bootTime
        }
    }

    /// The next `count` occurrences after `instant`, as `systemd-analyze calendar --iterations`
    /// lists them: a calendar expression in local time keeps one `mktime` guess throughout.
    public func elapses(after instant: Int64, count: Int, bootTime: Int64? = BootClock.bootTime()) -> [Int64] {
        var result: [Int64] = []
        var clock = CivilClock(zone: zone)
        var cursor = instant
        while result.count < count {
            let next: Int64?
            if case .calendar(let spec) = rule, spec.timezone == nil {
                next = spec.nextElapse(after: cursor, clock: &clock)
            } else {
                next = self.next(after: cursor, bootTime: bootTime)
            }
            guard let next else { break }
            result.append(next)
            cursor = next
        }
        return result
    }

    /// The normalized form: systemd's for calendar expressions, the text otherwise.
    public var normalized: String {
        switch rule {
        case .calendar(let spec): spec.normalized(localZone: zone)
        default: text
        }
    }

    public var description: String { text }

    /// `calendar`, `cron`, `interval` or `reboot`.
    public var kind: String {
        switch rule {
        case .calendar: "calendar"
        case .cron: "cron"
        case .interval: "interval"
        case .reboot: "reboot"
        }
    }
}

/// Reading the boot time, for `@reboot`.
public enum BootClock {
    /// When this machine booted, in microseconds since the epoch (`btime` of /proc/stat).
    public static func bootTime() -> Int64? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
            let seconds = Int64(line.dropFirst(6).trimmingBlanks())
        else { return nil }
        return seconds * 1_000_000
    }
}
