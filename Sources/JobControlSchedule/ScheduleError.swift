/// Why a schedule expression was refused.
public enum ScheduleError: Error, Equatable, CustomStringConvertible {
    case invalidCalendar(String, reason: String)
    case invalidCron(String, reason: String)
    case invalidInterval(String, reason: String)
    case unknownZone(String)

    public var description: String {
        switch self {
        case .invalidCalendar(let expression, let reason):
            "invalid calendar expression '\(expression)': \(reason) (systemd.time(7) syntax, e.g. 'Mon..Fri *-*-* 09:00', 'daily', '*:0/15')"
        case .invalidCron(let expression, let reason):
            "invalid cron expression '\(expression)': \(reason) (five fields: minute hour day-of-month month day-of-week, e.g. '30 2 * * mon-fri', or @hourly, @daily, @weekly, @monthly, @yearly)"
        case .invalidInterval(let expression, let reason):
            "invalid interval '\(expression)': \(reason) (a duration such as 30s, 15m, 2h or 1d)"
        case .unknownZone(let name):
            ZoneError.unknownZone(name).description
        }
    }
}

extension StringProtocol {
    /// Lowercased in ASCII only, as systemd's and cron's `strcasecmp` compare: Unicode
    /// lowercasing would read `weeKly` with a KELVIN SIGN (U+212A) as `weekly`.
    var asciiLowercased: String {
        String(
            decoding: utf8.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 + 32 : $0 }, as: UTF8.self)
    }
}
