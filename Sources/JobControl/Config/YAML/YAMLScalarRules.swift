/// How an untagged plain scalar is typed (YAML 1.1's rules, in the order Yams applied them: bool,
/// int, float, merge, null, timestamp, value, else string), and how a scalar reads as a number.
/// Written by hand rather than as regular expressions: every scalar of a configuration passes
/// through here, and the loader reads 10,000 jobs in a few hundred milliseconds.
enum YAMLScalarRules {
    /// The tag an untagged plain scalar gets.
    static func tag(ofPlain string: String) -> Node.Tag {
        let s = Array(string.utf8)
        if isBool(string) { return .bool }
        if isInt(s) { return .int }
        if isFloat(s) { return .float }
        if string == "<<" { return .merge }
        if isNull(string) { return .null }
        if isTimestamp(s) { return .timestamp }
        if string == "=" { return .value }
        return .str
    }

    static func isNull(_ string: String) -> Bool {
        switch string {
        case "", "~", "null", "Null", "NULL": return true
        default: return false
        }
    }

    static func isBool(_ string: String) -> Bool {
        switch string {
        case "yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE", "on", "On",
            "ON", "off", "Off", "OFF":
            return true
        default: return false
        }
    }

    // MARK: Values

    /// The integer an unquoted scalar spells, as the loader has always read it: `_` dropped, then
    /// a sign, then `0x`, `0b`, `0o` or `0` (octal) decides the radix; with a `:`, base 60.
    static func integer(_ string: String) -> Int? {
        let text = string.replacing("_", with: "")
        let negative = text.hasPrefix("-")
        let unsigned = negative || text.hasPrefix("+") ? text.dropFirst() : Substring(text)
        if unsigned == "0" { return 0 }  // also -0 and +0
        for (prefix, radix) in [("0x", 16), ("0b", 2), ("0o", 8), ("0", 8)] where unsigned.hasPrefix(prefix) {
            return Int((negative ? "-" : "") + unsigned.dropFirst(prefix.count), radix: radix)
        }
        if unsigned.contains(":") {
            return sexagesimal(text) as Int?
        }
        return Int(text)
    }

    /// The number an unquoted scalar spells: `.inf`, `-.inf`, `.nan` in any case, base 60 with a
    /// `:`, else what `Double` reads (after dropping `_`).
    static func double(_ string: String) -> Double? {
        switch string.lowercased() {
        case ".inf", "+.inf": return .infinity
        case "-.inf": return -.infinity
        case ".nan": return .nan
        default:
            let text = string.replacing("_", with: "")
            if text.contains(":") {
                return sexagesimal(text) as Double?
            }
            return Double(text)
        }
    }

    /// `[-+]D:D:…` in base 60, as an integer; `nil` if a part does not read or the value overflows
    /// (Yams trapped there, so a typo such as thirteen `1:` parts stopped the daemon).
    private static func sexagesimal(_ text: String) -> Int? {
        let (negative, parts) = baseSixty(text)
        var value = 0
        var base = 1
        for (index, part) in parts.enumerated() {
            guard let digit = Int(part, radix: 10) else { return nil }
            if index > 0 {
                let next = base.multipliedReportingOverflow(by: 60)
                guard !next.overflow else { return nil }
                base = next.partialValue
            }
            let term = digit.multipliedReportingOverflow(by: base)
            let sum = value.addingReportingOverflow(term.partialValue)
            guard !term.overflow, !sum.overflow else { return nil }
            value = sum.partialValue
        }
        guard negative else { return value }
        let negated = 0.subtractingReportingOverflow(value)
        return negated.overflow ? nil : negated.partialValue
    }

    /// `[-+]D:D:…` in base 60, as a number.
    private static func sexagesimal(_ text: String) -> Double? {
        let (negative, parts) = baseSixty(text)
        var value = 0.0
        var base = 1.0
        for part in parts {
            guard let digit = Double(part) else { return nil }
            value += digit * base
            base *= 60
        }
        return negative ? -value : value
    }

    /// The sign and the `:`-separated parts of a base-60 scalar, least significant first.
    private static func baseSixty(_ text: String) -> (negative: Bool, parts: [Substring]) {
        var body = Substring(text)
        let negative = body.hasPrefix("-")
        if negative || body.hasPrefix("+") { body = body.dropFirst() }
        return (negative, body.split(separator: ":", omittingEmptySubsequences: false).reversed())
    }

    // MARK: Patterns (the YAML 1.1 regular expressions, as code over UTF-8 bytes)

    private static func isDigit(_ c: UInt8, radix: Int = 10) -> Bool {
        switch radix {
        case 2: return c == 0x30 || c == 0x31
        case 8: return (0x30...0x37).contains(c)
        case 16: return (0x30...0x39).contains(c) || (0x41...0x46).contains(c) || (0x61...0x66).contains(c)
        default: return (0x30...0x39).contains(c)
        }
    }

    /// `rest` is one or more of `digit or _` in `radix`.
    private static func digitsOrUnderscores(_ rest: ArraySlice<UInt8>, radix: Int) -> Bool {
        !rest.isEmpty && rest.allSatisfy { $0 == 0x5F || isDigit($0, radix: radix) }
    }

    private static func droppingSign(_ s: [UInt8]) -> ArraySlice<UInt8> {
        s.first == 0x2B || s.first == 0x2D ? s.dropFirst() : s[...]
    }

    /// `(:[0-5]?[0-9])+` exactly covers `rest`.
    private static func baseSixtyParts(_ rest: ArraySlice<UInt8>) -> Bool {
        guard rest.first == 0x3A else { return false }
        let parts = rest.dropFirst().split(separator: 0x3A, omittingEmptySubsequences: false)
        return parts.allSatisfy { part in
            switch part.count {
            case 1: return isDigit(part.first!)
            case 2: return (0x30...0x35).contains(part.first!) && isDigit(part.last!)
            default: return false
            }
        }
    }

    static func isInt(_ s: [UInt8]) -> Bool {
        let u = droppingSign(s)
        guard let first = u.first else { return false }
        let text = Array(u)
        if text.starts(with: Array("0b".utf8)) { return digitsOrUnderscores(u.dropFirst(2), radix: 2) }
        if text.starts(with: Array("0x".utf8)) { return digitsOrUnderscores(u.dropFirst(2), radix: 16) }
        if first == 0x30 {
            if u.count == 1 { return true }
            let rest = u.dropFirst()
            return digitsOrUnderscores(rest.first == 0x6F ? rest.dropFirst() : rest, radix: 8)
        }
        guard (0x31...0x39).contains(first) else { return false }
        // [1-9][0-9_]* optionally followed by (:[0-5]?[0-9])+
        let body = u.dropFirst()
        let end = body.firstIndex { !(isDigit($0) || $0 == 0x5F) } ?? body.endIndex
        if end == body.endIndex { return true }
        return baseSixtyParts(body[end...])
    }

    static func isFloat(_ s: [UInt8]) -> Bool {
        let u = droppingSign(s)
        let signed = u.count != s.count
        let text = String(decoding: u, as: UTF8.self)
        if ["inf", "Inf", "INF"].contains(where: { text == "." + $0 }) { return true }
        if !signed, [".nan", ".NaN", ".NAN"].contains(text) { return true }
        guard let first = u.first else { return false }
        if first == 0x2E {
            // \.[0-9_]+([eE][-+][0-9]+)?   (no sign allowed before it)
            guard !signed else { return false }
            let body = u.dropFirst()
            let end = body.firstIndex { !(isDigit($0) || $0 == 0x5F) } ?? body.endIndex
            guard end > body.startIndex else { return false }
            return end == body.endIndex || isExponent(body[end...], signRequired: true)
        }
        guard isDigit(first) else { return false }
        let body = u.dropFirst()
        let end = body.firstIndex { !(isDigit($0) || $0 == 0x5F) } ?? body.endIndex
        var rest = body[end...]
        if rest.first == 0x3A {
            // [0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*
            guard let dot = rest.firstIndex(of: 0x2E) else { return false }
            return baseSixtyParts(rest[..<dot])
                && rest[rest.index(after: dot)...].allSatisfy { isDigit($0) || $0 == 0x5F }
        }
        // [0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?
        if rest.first == 0x2E {
            rest = rest.dropFirst()
            let fractionEnd = rest.firstIndex { !(isDigit($0) || $0 == 0x5F) } ?? rest.endIndex
            rest = rest[fractionEnd...]
        }
        return rest.isEmpty || isExponent(rest, signRequired: false)
    }

    private static func isExponent(_ rest: ArraySlice<UInt8>, signRequired: Bool) -> Bool {
        guard rest.first == 0x65 || rest.first == 0x45 else { return false }
        var digits = rest.dropFirst()
        if digits.first == 0x2B || digits.first == 0x2D {
            digits = digits.dropFirst()
        } else if signRequired {
            return false
        }
        return !digits.isEmpty && digits.allSatisfy { isDigit($0) }
    }

    /// `YYYY-MM-DD`, or `YYYY-M-D` followed by a time (`T` or blanks, `H:MM:SS`, fraction, zone).
    static func isTimestamp(_ s: [UInt8]) -> Bool {
        func digits(_ range: Range<Int>) -> Bool { range.upperBound <= s.count && s[range].allSatisfy { isDigit($0) } }
        if s.count == 10, digits(0..<4), s[4] == 0x2D, digits(5..<7), s[7] == 0x2D, digits(8..<10) { return true }
        guard digits(0..<4), s.count > 4, s[4] == 0x2D else { return false }
        var i = 5
        func number(max: Int) -> Bool {
            let start = i
            while i < s.count, isDigit(s[i]), i - start < max { i += 1 }
            return i > start
        }
        guard number(max: 2), i < s.count, s[i] == 0x2D else { return false }
        i += 1
        guard number(max: 2), i < s.count else { return false }
        if s[i] == 0x54 || s[i] == 0x74 {
            i += 1
        } else {
            let start = i
            while i < s.count, s[i] == 0x20 || s[i] == 0x09 { i += 1 }
            guard i > start else { return false }
        }
        guard number(max: 2), i + 6 <= s.count, s[i] == 0x3A, digits(i + 1..<i + 3), s[i + 3] == 0x3A,
            digits(i + 4..<i + 6)
        else { return false }
        i += 6
        if i < s.count, s[i] == 0x2E {
            i += 1
            while i < s.count, isDigit(s[i]) { i += 1 }
        }
        while i < s.count, s[i] == 0x20 || s[i] == 0x09 { i += 1 }
        if i == s.count { return true }
        if s[i] == 0x5A { return i + 1 == s.count }
        guard s[i] == 0x2B || s[i] == 0x2D else { return false }
        i += 1
        guard number(max: 2) else { return false }
        if i == s.count { return true }
        guard s[i] == 0x3A, digits(i + 1..<i + 3), i + 3 == s.count else { return false }
        return true
    }
}
