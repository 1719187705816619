/// A broken-down wall-clock time, the Swift counterpart of C's `struct tm`.
///
/// Fields may be out of range (a `day` of 32, an `hour` of 24) until a ``CivilClock`` normalizes
/// them, exactly as `mktime(3)` does; the calendar search relies on that, as systemd's does.
public struct CivilTime: Sendable, Equatable, CustomStringConvertible {
    /// The full year (2026, not 126).
    public var year: Int
    /// 0 = January … 11 = December, like `tm_mon`.
    public var month: Int
    /// Day of the month, 1-based.
    public var day: Int
    public var hour: Int
    public var minute: Int
    public var second: Int
    /// 0 = Sunday … 6 = Saturday, like `tm_wday`; set by normalization.
    public var weekday: Int = 0
    /// -1 = unknown (let the zone decide), 0 = standard time, 1 = daylight saving time.
    public var isDST: Int = -1
    /// Seconds east of UTC; set by normalization.
    public var utcOffset: Int = 0
    /// The zone's abbreviation (`CET`, `CEST`); set by normalization.
    public var abbreviation: String = ""

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
    }

    /// The wall-clock fields as if they were UTC: seconds since the epoch, with every field's
    /// overflow carried (month into year, the rest linearly), as `mktime` reads its input.
    var wallSeconds: Int64 {
        let (carry, month0) = month.floorDivided(by: 12)
        let days = CivilDate.days(year: year + carry, month: month0 + 1, day: 1) + Int64(day - 1)
        return days * 86_400 + Int64(hour) * 3600 + Int64(minute) * 60 + Int64(second)
    }

    /// The fields of `wallSeconds` (seconds since the epoch read as UTC).
    init(wallSeconds: Int64, utcOffset: Int, isDST: Bool, abbreviation: String) {
        let (days, secondOfDay) = wallSeconds.floorDivided(by: 86_400)
        let date = CivilDate(days: days)
        self.init(
            year: date.year, month: date.month - 1, day: date.day,
            hour: Int(secondOfDay / 3600), minute: Int(secondOfDay % 3600 / 60), second: Int(secondOfDay % 60))
        weekday = Int((days + 4).floorDivided(by: 7).remainder)  // 1970-01-01 was a Thursday
        self.isDST = isDST ? 1 : 0
        self.utcOffset = utcOffset
        self.abbreviation = abbreviation
    }

    /// `2026-03-29 02:30:00`.
    public var description: String {
        "\(pad(year, 4))-\(pad(month + 1, 2))-\(pad(day, 2)) \(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2))"
    }
}

/// A proleptic Gregorian date and its day number since 1970-01-01.
struct CivilDate: Equatable {
    var year: Int
    /// 1-based.
    var month: Int
    var day: Int

    /// Days since 1970-01-01 of a date (era-based: exact for every year, no tables).
    static func days(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = y.floorDivided(by: 400).quotient
        let yearOfEra = y - era * 400
        let shiftedMonth = Int64(month > 2 ? month - 3 : month + 9)
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    init(days: Int64) {
        let shifted = days + 719_468
        let era = shifted.floorDivided(by: 146_097).quotient
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        day = Int(dayOfYear - (153 * shiftedMonth + 2) / 5 + 1)
        month = Int(shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9)
        year = Int(yearOfEra + era * 400) + (month <= 2 ? 1 : 0)
    }

    static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

extension BinaryInteger {
    /// Division rounding towards minus infinity, with a remainder that is never negative.
    func floorDivided(by divisor: Self) -> (quotient: Self, remainder: Self) {
        let quotient = self / divisor
        let remainder = self % divisor
        return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
    }
}

func pad(_ value: Int, _ width: Int) -> String {
    let digits = String(value)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}
