/// A systemd calendar event expression (`OnCalendar=` syntax of systemd.time(7)), such as
/// `Mon..Fri *-*-* 09:00:00 Europe/Berlin` or `*-*~01 03:00`.
///
/// Parsed by ``CalendarSpec/init(parsing:localZone:)``, printed in systemd's normalized form by
/// ``normalized``, evaluated by ``nextElapse(after:clock:)``. Parsing, normalization and the search
/// follow systemd's `calendarspec.c` rule for rule, so that every answer equals what
/// `systemd-analyze calendar` prints on the same machine (the tests compare the two). The search
/// is that of systemd 252 (Debian 12), whose `find_next` differs from later versions in how it
/// gets unstuck around DST changes.
public struct CalendarSpec: Sendable, Hashable {
    /// One element of a field's comma list: a value, a range `start..stop`, a repetition
    /// `start/repeat` or `start..stop/repeat`. `stop` is -1 when absent.
    struct Component: Sendable, Hashable, Comparable {
        var start: Int
        var stop: Int = -1
        var repeatStep: Int = 0

        static func < (a: Component, b: Component) -> Bool {
            (a.start, a.stop, a.repeatStep) < (b.start, b.stop, b.repeatStep)
        }
    }

    /// Bit 0 = Monday … bit 6 = Sunday; -1 = any day.
    var weekdays: Int = -1
    /// nil = `*` (any value).
    var year: [Component]?
    var month: [Component]?
    var day: [Component]?
    var hour: [Component]?
    var minute: [Component]?
    /// Seconds, in microseconds.
    var microsecond: [Component]?
    /// Whether the seconds name a fraction of a second (`00.5`, `0/0.25`): only then can the
    /// expression elapse more than once within a second.
    public var hasFractionalSeconds: Bool {
        microsecond?.contains {
            $0.start % Self.usecPerSecond != 0 || ($0.repeatStep > 0 && $0.repeatStep % Self.usecPerSecond != 0)
        } ?? false
    }

    /// `~` instead of `-` before the day: days count back from the end of the month.
    var endOfMonth = false
    /// The expression ended in `UTC`.
    var utc = false
    /// The expression ended in the local zone's standard (0) or daylight (1) abbreviation.
    var dst = -1
    /// The expression ended in a zone name (`Europe/Berlin`).
    public internal(set) var timezone: String?

    static let bitsWeekdays = 127
    static let minYear = 1970
    static let maxYear = 2199
    static let usecPerSecond = 1_000_000
    static let maxComponents = 240

    /// The zone to evaluate this expression in, given the zone to use when it names none.
    public func zone(default localZone: ZoneRules) -> ZoneRules {
        if utc { return .utc }
        if let timezone, let zone = try? ZoneRules.load(named: timezone) { return zone }
        return localZone
    }
}

// MARK: Normalization and validity

extension CalendarSpec {
    mutating func normalize() {
        if timezone == "UTC" {
            utc = true
            timezone = nil
        }
        if weekdays <= 0 || weekdays >= Self.bitsWeekdays { weekdays = -1 }
        if endOfMonth && day == nil { endOfMonth = false }
        year = year.map { $0.map(Self.fixYear) }
        for path in [\CalendarSpec.year, \.month, \.day, \.hour, \.minute, \.microsecond] {
            self[keyPath: path] = self[keyPath: path].map(Self.normalizeChain)
        }
    }

    /// `12` → 2012, `89` → 1989.
    static func fixYear(_ component: Component) -> Component {
        func fix(_ value: Int) -> Int {
            if value >= 0 && value < 70 { return value + 2000 }
            if value >= 70 && value < 100 { return value + 1900 }
            return value
        }
        return Component(start: fix(component.start), stop: fix(component.stop), repeatStep: component.repeatStep)
    }

    static func normalizeChain(_ chain: [Component]) -> [Component] {
        let chain = chain.map { original in
            var component = original
            if component.stop > component.start && component.repeatStep > 0 {
                component.stop -= (component.stop - component.start) % component.repeatStep
            }
            // A repetition that cannot fire twice, or a range of one value, is a plain value.
            if (component.stop > component.start && component.repeatStep > 0
                && component.start + component.repeatStep > component.stop)
                || component.start == component.stop
            {
                component.repeatStep = 0
                component.stop = -1
            }
            return component
        }
        guard chain.count > 1 else { return chain }
        var unique: [Component] = []
        for component in chain.sorted() where unique.last != component { unique.append(component) }
        return unique
    }

    var isValid: Bool {
        weekdays <= Self.bitsWeekdays
            && Self.chainValid(year, from: Self.minYear, to: Self.maxYear)
            && Self.chainValid(month, from: 1, to: 12)
            && Self.chainValid(day, from: 1, to: 31, endOfMonth: endOfMonth)
            && Self.chainValid(hour, from: 0, to: 23)
            && Self.chainValid(minute, from: 0, to: 59)
            && Self.chainValid(microsecond, from: 0, to: 60 * Self.usecPerSecond - 1)
    }

    static func chainValid(_ chain: [Component]?, from: Int, to: Int, endOfMonth: Bool = false) -> Bool {
        guard let chain else { return true }
        // Days counted from the end of the month may not reach further back than 28.
        let to = endOfMonth ? to - 3 : to
        return chain.allSatisfy { component in
            guard component.start >= from, component.start <= to, component.repeatStep <= to - from else {
                return false
            }
            if component.stop >= 0 {
                return component.stop >= from && component.stop <= to
                    && component.start + component.repeatStep <= component.stop
            }
            return endOfMonth
                ? component.start - component.repeatStep >= from
                : component.start + component.repeatStep <= to
        }
    }
}

// MARK: Normalized form

extension CalendarSpec {
    static let weekdayNames = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

    /// The normalized form `systemd-analyze calendar` prints (`Mon..Fri *-*-* 09:00:00`).
    /// `localZone` supplies the abbreviation when the expression named the local one (`CET`).
    public func normalized(localZone: ZoneRules = .local()) -> String {
        var text = ""
        if weekdays > 0 && weekdays <= Self.bitsWeekdays {
            text += formatWeekdays() + " "
        }
        text += Self.format(year, width: 4) + "-" + Self.format(month, width: 2)
        text += (endOfMonth ? "~" : "-") + Self.format(day, width: 2)
        text += " " + Self.format(hour, width: 2) + ":" + Self.format(minute, width: 2)
        text += ":" + Self.format(microsecond, width: 2, microseconds: true)
        if utc {
            text += " UTC"
        } else if let timezone {
            text += " " + timezone
        } else if dst == 0 || dst == 1 {
            let name = dst == 0 ? localZone.standardAbbreviation : localZone.daylightAbbreviation
            if !name.isEmpty { text += " " + name }
        }
        return text
    }

    private func formatWeekdays() -> String {
        var text = ""
        var runStart = -1
        func closeRun(at end: Int) {
            if end > runStart + 1 {
                text += (end > runStart + 2 ? ".." : ",") + Self.weekdayNames[end - 1]
            }
        }
        for index in 0..<7 {
            if weekdays & (1 << index) != 0 {
                if runStart < 0 {
                    if !text.isEmpty { text += "," }
                    text += Self.weekdayNames[index]
                    runStart = index
                }
            } else if runStart >= 0 {
                closeRun(at: index)
                runStart = -1
            }
        }
        if runStart >= 0 { closeRun(at: 7) }
        return text
    }

    private static func format(_ chain: [Component]?, width: Int, microseconds: Bool = false) -> String {
        let unit = microseconds ? usecPerSecond : 1
        guard let chain else { return "*" }
        if microseconds && chain.contains(where: { $0.start == 0 && $0.stop < 0 && $0.repeatStep == usecPerSecond }) {
            return "*"
        }
        func fraction(_ value: Int) -> String { value % unit > 0 ? "." + pad(value % unit, 6) : "" }
        return chain.map { component in
            var text = pad(component.start / unit, width) + fraction(component.start)
            if component.stop > 0 { text += ".." + pad(component.stop / unit, width) }
            text += fraction(component.stop)
            if component.repeatStep > 0 && !(component.stop > 0 && component.repeatStep == unit) {
                text += "/" + String(component.repeatStep / unit)
            }
            text += fraction(component.repeatStep)
            return text
        }.joined(separator: ",")
    }
}
