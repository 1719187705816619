import FoundationEssentials
import JobControlModel

/// Instants (microseconds since the epoch) as people read and write them.
public enum ScheduleTime {
    static let weekdayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]

    /// `Sun 2025-10-26 02:30:00 CEST`, as systemd prints timestamps.
    public static func display(_ usec: Int64, zone: ZoneRules) -> String {
        let time = CivilClock(zone: zone).civilTime(at: usec.floorDivided(by: 1_000_000).quotient)
        return "\(weekdayNames[time.weekday]) \(time) \(time.abbreviation)"
    }

    /// `2025-10-26T02:30:00+02:00`: ISO 8601 with the zone's offset (microseconds when present).
    public static func iso8601(_ usec: Int64, zone: ZoneRules) -> String {
        let (seconds, fraction) = usec.floorDivided(by: 1_000_000)
        let time = CivilClock(zone: zone).civilTime(at: seconds)
        let date = "\(pad(time.year, 4))-\(pad(time.month + 1, 2))-\(pad(time.day, 2))"
        var clock = "\(pad(time.hour, 2)):\(pad(time.minute, 2)):\(pad(time.second, 2))"
        if fraction > 0 { clock += "." + pad(Int(fraction), 6) }
        let offset = abs(time.utcOffset)
        let sign = time.utcOffset < 0 ? "-" : "+"
        return "\(date)T\(clock)\(sign)\(pad(offset / 3600, 2)):\(pad(offset % 3600 / 60, 2))"
    }

    /// Reads `2025-03-29 12:00[:00] [UTC|Zone/Name]`, `2025-03-29T12:00:00+01:00`, `@1743249600`
    /// or `now`; a time without a zone is in `zone`.
    public static func parse(_ text: String, zone: ZoneRules, now: Int64 = currentMicroseconds()) throws(ScheduleError)
        -> Int64
    {
        let trimmed = text.trimmingBlanks()
        if trimmed == "now" { return now }
        if trimmed.hasPrefix("@") {
            // Up to the end of year 9999, as systemd's timestamps; anything else is refused, not trapped on.
            guard let seconds = Double(trimmed.dropFirst()), seconds.isFinite, abs(seconds) <= 253_402_300_799 else {
                throw invalid(text)
            }
            return Int64(seconds * 1_000_000)
        }
        var words = trimmed.split(separator: " ").map(String.init)
        var zone = zone
        // The local zone's own abbreviations (CET, CEST) pin standard or summer time, as in
        // systemd, compared without case and before zone files (`CET` is also a zone file, but
        // under Europe/Berlin it means winter time there); any other last word must name a zone.
        var pinnedDST = -1
        let standard = zone.standardAbbreviation.asciiLowercased
        let daylight = zone.daylightAbbreviation.asciiLowercased
        if words.count >= 2, let last = words.last?.asciiLowercased, last == standard || last == daylight {
            pinnedDST = last == daylight && daylight != standard ? 1 : 0
            words.removeLast()
        } else if words.count >= 2, let last = words.last,
            let named = last.asciiLowercased == "utc" ? .utc : ZoneRules.named(last)
        {
            zone = named
            words.removeLast()
        }
        // A date and at most a time: a word left over (an unknown zone, `EDT` elsewhere) is refused.
        guard words.count <= 2 else { throw invalid(text) }
        var body = words.joined(separator: "T")
        var offset: Int?
        if body.hasSuffix("Z") {
            offset = 0
            body.removeLast()
        } else if let sign = body.lastIndex(where: { $0 == "+" || $0 == "-" }), body[..<sign].contains("T") {
            let digits = body[body.index(after: sign)...].split(separator: ":").compactMap { Int($0) }
            guard (1...2).contains(digits.count), (0...24).contains(digits[0]),
                digits.count == 1 || (0..<60).contains(digits[1])
            else {
                throw invalid(text)
            }
            offset = (body[sign] == "-" ? -1 : 1) * (digits[0] * 3600 + (digits.count > 1 ? digits[1] * 60 : 0))
            body = String(body[..<sign])
        }
        let halves = body.split(separator: "T", maxSplits: 1).map(String.init)
        // Every field a number (`10:00:xx` is refused, not read as 10:00).
        let clockFields = halves.count > 1 ? halves[1].split(separator: ":", omittingEmptySubsequences: false) : []
        // Digits and one '.' only: `Double` would also read `0x10` and `1e1`.
        let clock = clockFields.compactMap { field -> Double? in
            guard !field.isEmpty, field.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
                field.filter({ $0 == "." }).count <= 1
            else { return nil }
            return Double(field)
        }
        guard let first = halves.first, clock.count == clockFields.count else { throw invalid(text) }
        let dateFields = first.split(separator: "-", omittingEmptySubsequences: false)
        let date = dateFields.compactMap { Int($0) }
        guard date.count == 3, dateFields.count == 3, clock.count <= 3, halves.count == 1 || clock.count >= 2,
            (1...9999).contains(date[0]), (1...12).contains(date[1]), (1...31).contains(date[2]),
            clock.count < 1 || (0..<24).contains(clock[0]), clock.count < 2 || (0..<60).contains(clock[1]),
            clock.count < 3 || (0..<61).contains(clock[2])
        else { throw invalid(text) }
        let seconds = clock.count > 2 ? clock[2] : 0
        var civil = CivilTime(
            year: date[0], month: date[1] - 1, day: date[2],
            hour: clock.count > 0 ? Int(clock[0]) : 0, minute: clock.count > 1 ? Int(clock[1]) : 0,
            second: Int(seconds))
        let fraction = Int64(((seconds - seconds.rounded(.down)) * 1_000_000).rounded())
        if let offset {
            return (civil.wallSeconds - Int64(offset)) * 1_000_000 + fraction
        }
        civil.isDST = pinnedDST
        var clockState = CivilClock(zone: zone)
        guard let instant = clockState.normalize(&civil) else { throw invalid(text) }
        return instant * 1_000_000 + fraction
    }

    private static func invalid(_ text: String) -> ScheduleError {
        .invalidCalendar(
            text,
            reason:
                "expected a time such as '2026-03-29 12:00', '2026-03-29 12:00 UTC', '2026-03-29T12:00:00+01:00', '@1774785600' or 'now'"
        )
    }

    public static func currentMicroseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1_000_000).rounded())
    }
}
