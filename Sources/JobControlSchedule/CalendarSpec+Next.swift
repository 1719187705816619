/// The search for the next elapse: systemd's `find_next`, field by field from the year down to the
/// second, letting `mktime` normalization carry overflows and reveal times that a DST change
/// skips, so nonexistent and repeated local times come out exactly as systemd has them.
extension CalendarSpec {
    static let maxIterations = 1000

    /// The first elapse strictly after `instant` (microseconds since the epoch), or nil when the
    /// expression never elapses again. `clock` must be in the expression's zone
    /// (``zone(default:)``); its `mktime` guess is carried over between calls, as in systemd.
    public func nextElapse(after instant: Int64, clock: inout CivilClock) -> Int64? {
        let start = instant + 1
        for freshDST in [false, true] {
            var time = clock.civilTime(at: start.floorDivided(by: Int64(Self.usecPerSecond)).quotient)
            var usec = Int(start.floorDivided(by: Int64(Self.usecPerSecond)).remainder)
            switch findNext(&time, usec: &usec, clock: &clock, freshDST: freshDST) {
            case .found:
                guard let seconds = clock.normalize(&time), seconds >= 0 else { return nil }
                return seconds * Int64(Self.usecPerSecond) + Int64(usec)
            case .none:
                return nil
            case .gaveUp:
                // systemd 252 stops here with "Infinite loop in calendar calculation" (and a
                // timer with this expression stops elapsing): a field reset across a year's end
                // keeps the summer-time flag, so each normalization steps back before the start
                // (`*-2/8-1 12:00` in November). A second search that guesses the flag afresh at
                // each step finds the elapse systemd meant; only these cases differ from systemd.
                continue
            }
        }
        return nil
    }

    enum SearchResult {
        case found, none, gaveUp
    }

    /// The first elapse after `instant` for an expression that names its own zone, with a fresh
    /// `mktime` guess each time (systemd computes those in a forked child).
    public func nextElapse(after instant: Int64, localZone: ZoneRules) -> Int64? {
        var clock = CivilClock(zone: zone(default: localZone))
        return nextElapse(after: instant, clock: &clock)
    }

    private func findNext(_ time: inout CivilTime, usec tmUsec: inout Int, clock: inout CivilClock, freshDST: Bool)
        -> SearchResult
    {
        let startTime = time
        let startUsec = tmUsec
        var c = time
        var usec = tmUsec
        // Once a candidate failed to move past the start (clocks fell back), stop forcing the DST
        // flag and let normalization find the later of the repeated times.
        var invalidateDST = false
        func resetBelow(_ field: WritableKeyPath<CivilTime, Int>?) {
            let order: [WritableKeyPath<CivilTime, Int>] = [\.month, \.day, \.hour, \.minute, \.second]
            var resetting = field == nil
            for path in order {
                if resetting { c[keyPath: path] = path == \.day ? 1 : 0 }
                if path == field { resetting = true }
            }
            usec = 0
        }

        for _ in 0..<Self.maxIterations {
            if freshDST && !invalidateDST { c.isDST = dst }
            _ = clock.normalize(&c)
            if !invalidateDST { c.isDST = dst }

            var r = findMatchingComponent(year, value: &c.year, time: c, clock: &clock)
            if r > 0 { resetBelow(nil) }
            if r < 0 { return .none }
            if withinBounds(&c, clock: &clock) <= 0 { return .none }

            var month1 = c.month + 1
            r = findMatchingComponent(month, value: &month1, time: c, clock: &clock)
            c.month = month1 - 1
            if r > 0 { resetBelow(\.month) }
            if r >= 0 { r = withinBounds(&c, clock: &clock) }
            if r < 0 {
                c.year += 1
                resetBelow(nil)
                continue
            }
            if r == 0 { continue }

            r = findMatchingComponent(day, value: &c.day, time: c, isDay: true, clock: &clock)
            if r > 0 { resetBelow(\.day) }
            if r >= 0 { r = withinBounds(&c, clock: &clock) }
            if r < 0 {
                c.month += 1
                resetBelow(\.month)
                continue
            }
            if r == 0 { continue }

            if !matchesWeekday(c, clock: &clock) {
                c.day += 1
                resetBelow(\.day)
                continue
            }

            r = findMatchingComponent(hour, value: &c.hour, time: c, clock: &clock)
            if r > 0 { resetBelow(\.hour) }
            if r >= 0 { r = withinBounds(&c, clock: &clock) }
            if r < 0 {
                c.day += 1
                resetBelow(\.day)
                continue
            }
            // The hour just set may not exist on this day; start over from the normalized time.
            if r == 0 { continue }

            r = findMatchingComponent(minute, value: &c.minute, time: c, clock: &clock)
            if r > 0 { resetBelow(\.minute) }
            if r >= 0 { r = withinBounds(&c, clock: &clock) }
            if r < 0 {
                c.hour += 1
                resetBelow(\.hour)
                continue
            }
            if r == 0 { continue }

            var secondUsec = c.second * Self.usecPerSecond + usec
            r = findMatchingComponent(microsecond, value: &secondUsec, time: c, clock: &clock)
            usec = secondUsec % Self.usecPerSecond
            c.second = secondUsec / Self.usecPerSecond
            if r >= 0 { r = withinBounds(&c, clock: &clock) }
            if r < 0 {
                c.minute += 1
                resetBelow(\.minute)
                continue
            }
            if r == 0 { continue }

            let fields = [c.year, c.month, c.day, c.hour, c.minute, c.second]
            let startFields = [
                startTime.year, startTime.month, startTime.day, startTime.hour, startTime.minute, startTime.second,
            ]
            if fields == startFields ? startUsec >= usec + 1 : !startFields.lexicographicallyPrecedes(fields) {
                // Stuck at or before the start: advance and let normalization settle the DST change.
                invalidateDST = true
                c.hour += 1
                continue
            }
            time = c
            tmUsec = usec
            return .found
        }
        // systemd gives up the same way ("Infinite loop in calendar calculation").
        return .gaveUp
    }

    /// Moves `value` to the earliest value of `chain` at or after it. Returns 1 when it moved,
    /// 0 when it already matched, -1 when nothing matches (the field must carry over).
    private func findMatchingComponent(
        _ chain: [Component]?, value: inout Int, time: CivilTime,
        isDay: Bool = false, clock: inout CivilClock
    ) -> Int {
        guard let chain else { return 0 }
        let countsFromEnd = endOfMonth && isDay
        var best: Int?
        for component in chain {
            var start = component.start
            var stop = component.stop
            if countsFromEnd {
                start = endOfMonthDay(time, back: component.start, clock: &clock)
                stop = endOfMonthDay(time, back: component.stop, clock: &clock)
                if stop > 0 { swap(&start, &stop) }
            }
            if start >= value {
                if best == nil || start < best! { best = start }
            } else if component.repeatStep > 0 {
                let steps = (value - start + component.repeatStep - 1) / component.repeatStep
                let candidate = start + component.repeatStep * steps
                if (best == nil || candidate < best!) && (stop < 0 || candidate <= stop) { best = candidate }
            }
        }
        guard let best else { return -1 }
        defer { value = best }
        return value != best ? 1 : 0
    }

    /// The day of the month that is `back` days before its end (`~1` is the last day), or -1.
    private func endOfMonthDay(_ time: CivilTime, back: Int, clock: inout CivilClock) -> Int {
        var probe = time
        probe.month += 1
        probe.day = 1 - back
        guard let instant = clock.normalize(&probe), instant >= 0, probe.month == time.month else {
            return -1
        }
        return probe.day
    }

    /// Normalizes a copy of `time`; when that moved it forward (a field was out of range, or the
    /// time does not exist), takes the normalized value with the field below the first changed one
    /// reset (so `03-33` becomes `04-01`, not `04-02`). Returns 1 when nothing changed, 0 when it
    /// moved, -1 when it went backwards or out of range.
    private func withinBounds(_ time: inout CivilTime, clock: inout CivilClock) -> Int {
        if time.year > Self.maxYear { return -1 }
        var t = time
        guard let instant = clock.normalize(&t), instant >= 0 else { return -1 }
        var order = 0
        if t.year != time.year {
            order = t.year < time.year ? -1 : 1
            t.month = 0
        } else if t.month != time.month {
            order = t.month < time.month ? -1 : 1
            t.day = 1
        } else if t.day != time.day {
            order = t.day < time.day ? -1 : 1
            t.hour = 0
        } else if t.hour != time.hour {
            order = t.hour < time.hour ? -1 : 1
            t.minute = 0
        } else if t.minute != time.minute {
            order = t.minute < time.minute ? -1 : 1
            t.second = 0
        } else if t.second != time.second {
            order = t.second < time.second ? -1 : 1
        }
        if order < 0 { return -1 }  // never go backwards
        if order > 0 { time = t }
        return order == 0 ? 1 : 0
    }

    private func matchesWeekday(_ time: CivilTime, clock: inout CivilClock) -> Bool {
        guard weekdays >= 0 && weekdays < Self.bitsWeekdays else { return true }
        var t = time
        guard let instant = clock.normalize(&t), instant >= 0 else { return false }
        let mondayBased = t.weekday == 0 ? 6 : t.weekday - 1
        return weekdays & (1 << mondayBased) != 0
    }
}
