import FoundationEssentials
import JobControlModel

/// Durations as written in configuration: `90s`, `15m`, `2h`, `1d`, `2w`, combined (`1h30m`), or a
/// bare number of seconds. One parser, so every key reads durations the same way.
public enum DurationParser {
    static let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]

    /// The longest duration accepted: 100 years. Anything longer is a typo, and every consumer
    /// (timers, microsecond arithmetic) could overflow on it.
    public static let maximum: Double = 100 * 365 * 86_400

    /// Seconds, or nil when `text` is not a duration (or longer than ``maximum``).
    public static func seconds(_ text: String) -> Double? {
        guard let value = parse(text), value <= maximum else { return nil }
        return value
    }

    private static func parse(_ text: String) -> Double? {
        let text = text.trimmingBlanks()
        if let plain = Double(text) { return plain >= 0 && plain.isFinite ? plain : nil }
        var total = 0.0
        var number = ""
        var sawUnit = false
        for character in text {
            if character.isNumber || character == "." {
                number.append(character)
            } else if let unit = units[character], let value = Double(number) {
                total += value * unit
                number = ""
                sawUnit = true
            } else {
                return nil
            }
        }
        guard number.isEmpty, sawUnit else { return nil }
        return total
    }

    /// The expected form, for error messages.
    public static let expected = "a duration such as 90s, 15m, 2h, 1d, 2w or 1h30m (at most 100 years)"
}

/// Durations for people: `90s`, `15m`, `2h30m`, `3d`.
public enum DurationFormatter {
    /// `seconds` as days, hours, minutes and seconds; a negative value, NaN or anything past a
    /// thousand years (an ETA from a progress total of 2^63) reads as `?`.
    public static func text(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0, seconds < 1000 * 365 * 86_400 else { return "?" }
        if seconds < 60 { return seconds == seconds.rounded() ? "\(Int(seconds))s" : seconds.oneDecimalText + "s" }
        var rest = Int(seconds.rounded())
        var parts: [String] = []
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] where rest >= size {
            parts.append("\(rest / size)\(unit)")
            rest %= size
        }
        return parts.joined()
    }
}
