import FoundationEssentials
import JobControlModel

/// A classic five-field cron expression (`minute hour day-of-month month day-of-week`), with the
/// semantics of Vixie cron and cronie: names (`jan`, `mon`), ranges, steps, lists, 0 or 7 for
/// Sunday, and the rule that when both day fields are restricted a day matching either is enough
/// (a field starting with `*` counts as unrestricted). `@hourly`, `@daily`/`@midnight`,
/// `@weekly`, `@monthly`, `@yearly`/`@annually` are shorthands; `@reboot` is ``Schedule``'s.
///
/// DST changes follow Vixie cron's rules (man 8 cron; cronie's are the same), as an imported
/// crontab behaved before: a job whose minute or hour field starts with `*` (`@hourly`, `*/15`)
/// is a wildcard job, the others fixed-time. A local time a spring-forward change skips fires a
/// fixed-time job at the change (`30 2 * * *` runs at 03:00 that day), and nothing for a wildcard
/// job; a local time that happens twice fires a fixed-time job once, at its first occurrence, and
/// a wildcard job at both.
public struct CronExpression: Sendable, Hashable {
    /// Allowed values of each field, as bit sets.
    var minutes: UInt64
    var hours: UInt64
    var daysOfMonth: UInt64
    var months: UInt64
    /// Bit 0 = Sunday … bit 6 = Saturday (7 folds onto 0).
    var daysOfWeek: UInt64
    var dayOfMonthIsStar: Bool
    var dayOfWeekIsStar: Bool
    /// The minute or the hour field starts with `*` (cron's MIN_STAR or HR_STAR): the DST rules
    /// of wildcard jobs apply.
    var isWildcard: Bool
    /// The expression as written.
    public let text: String

    static let shorthands = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]
    static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let weekdayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    public init(parsing text: String) throws(ScheduleError) {
        self.text = text
        let trimmed = text.trimmingBlanks()
        let expanded = Self.shorthands[trimmed] ?? trimmed  // lower case only, as in cronie
        let fields = expanded.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw .invalidCron(text, reason: "expected 5 fields, found \(fields.count)")
        }
        minutes = try Self.field(fields[0], name: "minute", range: 0...59, names: [], text: text)
        hours = try Self.field(fields[1], name: "hour", range: 0...23, names: [], text: text)
        daysOfMonth = try Self.field(fields[2], name: "day of month", range: 1...31, names: [], text: text)
        months = try Self.field(
            fields[3], name: "month", range: 1...12, names: Self.monthNames, nameBase: 1, text: text)
        var weekdays = try Self.field(
            fields[4], name: "day of week", range: 0...7, names: Self.weekdayNames, text: text)
        if weekdays & (1 << 7) != 0 { weekdays = weekdays & ~(1 << 7) | 1 }
        daysOfWeek = weekdays
        dayOfMonthIsStar = fields[2].hasPrefix("*")
        dayOfWeekIsStar = fields[4].hasPrefix("*")
        isWildcard = fields[0].hasPrefix("*") || fields[1].hasPrefix("*")
    }

    private static func field(
        _ text: String, name: String, range: ClosedRange<Int>, names: [String],
        nameBase: Int = 0, text expression: String
    ) throws(ScheduleError) -> UInt64 {
        func fail(_ reason: String) -> ScheduleError {
            .invalidCron(expression, reason: "\(name) field '\(text)': \(reason)")
        }
        func value(_ token: Substring) throws(ScheduleError) -> Int {
            if let number = Int(token), token.allSatisfy(\.isNumber) {
                guard range.contains(number) else {
                    throw fail("\(number) is outside \(range.lowerBound)-\(range.upperBound)")
                }
                return number
            }
            if token.count == 3, let index = names.firstIndex(of: token.asciiLowercased) { return index + nameBase }
            throw fail("'\(token)' is not a number\(names.isEmpty ? "" : " or a name such as \(names[1])")")
        }
        var bits: UInt64 = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw fail("empty list element") }
            let parts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { throw fail("more than one '/'") }
            var step = 1
            if parts.count == 2 {
                guard let parsed = Int(parts[1]), parsed > 0, parts[1].allSatisfy(\.isNumber) else {
                    throw fail("step must be a positive number")
                }
                step = parsed
            }
            var low: Int
            var high: Int
            if parts[0] == "*" {
                (low, high) = (range.lowerBound, range.upperBound)
            } else {
                let bounds = parts[0].split(separator: "-", omittingEmptySubsequences: false)
                guard bounds.count <= 2, !bounds.contains(where: \.isEmpty) else { throw fail("malformed range") }
                low = try value(bounds[0])
                // cronie allows a step only after '*' or a range: '5/15' is an error, not '5-59/15'.
                guard bounds.count == 2 || parts.count == 1 else { throw fail("a step needs '*' or a range before it") }
                high = bounds.count == 2 ? try value(bounds[1]) : low
                guard low <= high else { throw fail("range \(low)-\(high) runs backwards") }
            }
            for number in stride(from: low, through: high, by: step) { bits |= 1 << UInt64(number) }
        }
        return bits
    }

    func matchesDay(_ date: CivilDate, weekday: Int) -> Bool {
        guard months & (1 << UInt64(date.month)) != 0 else { return false }
        let dayOfMonth = daysOfMonth & (1 << UInt64(date.day)) != 0
        let dayOfWeek = daysOfWeek & (1 << UInt64(weekday)) != 0
        return dayOfMonthIsStar || dayOfWeekIsStar ? dayOfMonth && dayOfWeek : dayOfMonth || dayOfWeek
    }

    /// The first firing strictly after `instant` (seconds since the epoch), or nil if none within
    /// the next 30 years (`0 0 30 2 *` never fires).
    public func nextFiring(after instant: Int64, zone: ZoneRules) -> Int64? {
        let clock = CivilClock(zone: zone)
        let local = clock.civilTime(at: instant)
        // From the day before: a wall time of that day can still lie after `instant` in a
        // repeated hour.
        var days = CivilDate.days(year: local.year, month: local.month + 1, day: local.day) - 1
        let lastDay = days + 366 * 30
        // Wall-clock order is not instant order where an hour repeats: the earliest candidate
        // is kept until no later wall time can come before it (a day and more beyond it).
        var best: Int64?
        while days <= lastDay {
            if let best, days * 86_400 > best + 2 * 86_400 { break }
            let date = CivilDate(days: days)
            let weekday = Int((days + 4).floorDivided(by: 7).remainder)
            if matchesDay(date, weekday: weekday) {
                for hour in 0..<24 where hours & (1 << UInt64(hour)) != 0 {
                    for minute in 0..<60 where minutes & (1 << UInt64(minute)) != 0 {
                        let wall = days * 86_400 + Int64(hour * 3600 + minute * 60)
                        for firing in firings(ofWall: wall, zone: zone) where firing > instant {
                            best = min(best ?? firing, firing)
                        }
                    }
                }
            }
            days += 1
        }
        return best
    }

    /// When a matching wall-clock time fires, by the DST rules above.
    func firings(ofWall wall: Int64, zone: ZoneRules) -> [Int64] {
        let instants = zone.instants(forWall: wall)
        if instants.isEmpty { return isWildcard ? [] : [zone.endOfGap(containingWall: wall)] }
        return isWildcard ? instants : [instants[0]]
    }
}

extension ZoneRules {
    /// The instant a spring-forward gap containing the local time `wall` ends (the change):
    /// where the offset after the gap begins, found between the two readings of `wall`.
    public func endOfGap(containingWall wall: Int64) -> Int64 {
        let before = Int64(localTimeType(at: wall - 86_400).utcOffset)
        let after = Int64(localTimeType(at: wall + 86_400).utcOffset)
        var low = wall - max(before, after)  // still the earlier offset
        var high = wall - min(before, after)  // the later one already
        while high - low > 1 {
            let middle = low + (high - low) / 2
            if Int64(localTimeType(at: middle).utcOffset) == after { high = middle } else { low = middle }
        }
        return high
    }

    /// The instants whose local time is `wall` (seconds since the epoch read as local time):
    /// none in a spring-forward gap, two when clocks fall back, else one; ascending.
    public func instants(forWall wall: Int64) -> [Int64] {
        var result: [Int64] = []
        for probe in [wall - 86_400, wall + 86_400] {
            let offset = Int64(localTimeType(at: probe).utcOffset)
            let candidate = wall - offset
            if Int64(localTimeType(at: candidate).utcOffset) == offset, !result.contains(candidate) {
                result.append(candidate)
            }
        }
        return result.sorted()
    }
}
