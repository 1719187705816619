/// A POSIX `TZ` rule such as `CET-1CEST,M3.5.0,M10.5.0/3`: standard and daylight time and the
/// yearly rule between them. TZif footers use it for instants after the last listed transition,
/// so a zone is right in 2150 as well as in 2026.
struct PosixZoneRule: Sendable, Equatable {
    /// When daylight time starts or ends within a year, in local time of the period before it.
    enum Day: Sendable, Equatable {
        /// `Jn`: day 1…365, February 29 never counted.
        case julianNoLeap(Int)
        /// `n`: day 0…365, February 29 counted.
        case zeroBased(Int)
        /// `Mm.w.d`: weekday `d` (0 = Sunday) of week `w` (5 = last) of month `m`.
        case monthWeekDay(month: Int, week: Int, weekday: Int)
    }

    struct Change: Sendable, Equatable {
        var day: Day
        /// Seconds after local midnight (may be negative or beyond a day).
        var time: Int
    }

    var standard: LocalTimeType
    var daylight: LocalTimeType?
    var start: Change?
    var end: Change?

    init?(_ text: String) {
        var scanner = Substring(text)
        guard let standardName = Self.name(&scanner), let standardOffset = Self.offset(&scanner) else { return nil }
        standard = LocalTimeType(utcOffset: -standardOffset, isDST: false, abbreviation: standardName)
        guard !scanner.isEmpty else { return }
        guard let daylightName = Self.name(&scanner) else { return nil }
        var daylightOffset = -standardOffset + 3600
        if let first = scanner.first, first != "," {
            guard let offset = Self.offset(&scanner) else { return nil }
            daylightOffset = -offset
        }
        daylight = LocalTimeType(utcOffset: daylightOffset, isDST: true, abbreviation: daylightName)
        if scanner.isEmpty {
            // glibc's default when a daylight name has no rule: the US rule.
            start = Change(day: .monthWeekDay(month: 3, week: 2, weekday: 0), time: 7200)
            end = Change(day: .monthWeekDay(month: 11, week: 1, weekday: 0), time: 7200)
            return
        }
        guard scanner.first == ",", case _ = scanner.removeFirst(), let start = Self.change(&scanner),
            scanner.first == ",", case _ = scanner.removeFirst(), let end = Self.change(&scanner),
            scanner.isEmpty
        else { return nil }
        self.start = start
        self.end = end
    }

    /// The local time type at `instant`, decided as glibc's `__tz_compute` decides it: both changes
    /// are computed for the UTC year of the instant.
    func localTimeType(at instant: Int64) -> LocalTimeType {
        guard let daylight, let start, let end else { return standard }
        let year = CivilDate(days: instant.floorDivided(by: 86_400).quotient).year
        let daylightStarts = Self.instant(of: start, year: year, offset: standard.utcOffset)
        let daylightEnds = Self.instant(of: end, year: year, offset: daylight.utcOffset)
        let inDaylight =
            daylightStarts > daylightEnds
            ? (instant < daylightEnds || instant >= daylightStarts)  // southern hemisphere
            : (instant >= daylightStarts && instant < daylightEnds)
        return inDaylight ? daylight : standard
    }

    static func instant(of change: Change, year: Int, offset: Int) -> Int64 {
        let yearStart = CivilDate.days(year: year, month: 1, day: 1)
        let day: Int64
        switch change.day {
        case .julianNoLeap(let n):
            day = Int64(n - 1 + (CivilDate.isLeap(year) && n >= 60 ? 1 : 0))
        case .zeroBased(let n):
            day = Int64(n)
        case .monthWeekDay(let month, let week, let weekday):
            let monthStart = CivilDate.days(year: year, month: month, day: 1)
            let firstWeekday = Int((monthStart + 4).floorDivided(by: 7).remainder)
            var dayOfMonth = 1 + (weekday - firstWeekday + 7) % 7 + (week - 1) * 7
            let length = CivilDate.daysIn(month: month, year: year)
            while dayOfMonth > length { dayOfMonth -= 7 }
            day = monthStart - yearStart + Int64(dayOfMonth - 1)
        }
        return (yearStart + day) * 86_400 + Int64(change.time) - Int64(offset)
    }

    // MARK: Parsing

    private static func name(_ text: inout Substring) -> String? {
        if text.first == "<" {
            guard let close = text.firstIndex(of: ">") else { return nil }
            let name = text[text.index(after: text.startIndex)..<close]
            text = text[text.index(after: close)...]
            return name.count >= 3 ? String(name) : nil
        }
        let name = text.prefix { $0.isLetter }
        guard name.count >= 3 else { return nil }
        text = text.dropFirst(name.count)
        return String(name)
    }

    /// `[+-]hh[:mm[:ss]]` in seconds (POSIX sign: positive is west of Greenwich).
    private static func offset(_ text: inout Substring, maxHours: Int = 24) -> Int? {
        var sign = 1
        if let first = text.first, first == "+" || first == "-" {
            sign = first == "-" ? -1 : 1
            text.removeFirst()
        }
        var parts: [Int] = []
        repeat {
            if !parts.isEmpty { text.removeFirst() }
            let digits = text.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, digits.count <= 3, let value = Int(digits) else { return nil }
            parts.append(value)
            text = text.dropFirst(digits.count)
        } while text.first == ":" && parts.count < 3
        guard parts[0] <= maxHours, parts.dropFirst().allSatisfy({ $0 < 60 }) else { return nil }
        let seconds = parts[0] * 3600 + (parts.count > 1 ? parts[1] * 60 : 0) + (parts.count > 2 ? parts[2] : 0)
        return sign * seconds
    }

    private static func number(_ text: inout Substring) -> Int? {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let value = Int(digits) else { return nil }
        text = text.dropFirst(digits.count)
        return value
    }

    private static func change(_ text: inout Substring) -> Change? {
        let day: Day
        switch text.first {
        case "J":
            text.removeFirst()
            guard let n = number(&text), (1...365).contains(n) else { return nil }
            day = .julianNoLeap(n)
        case "M":
            text.removeFirst()
            guard let month = number(&text), (1...12).contains(month), text.first == ".",
                case _ = text.removeFirst(), let week = number(&text), (1...5).contains(week), text.first == ".",
                case _ = text.removeFirst(), let weekday = number(&text), (0...6).contains(weekday)
            else { return nil }
            day = .monthWeekDay(month: month, week: week, weekday: weekday)
        default:
            guard let n = number(&text), (0...365).contains(n) else { return nil }
            day = .zeroBased(n)
        }
        var time = 7200
        if text.first == "/" {
            text.removeFirst()
            // RFC 8536 extends the time to -167…167 hours; the sign here is not inverted.
            guard let seconds = offset(&text, maxHours: 167) else { return nil }
            time = seconds
        }
        return Change(day: day, time: time)
    }
}
