/// Parsing of calendar expressions, following systemd's `calendar_spec_from_string` so that the
/// same strings are accepted and rejected.
extension CalendarSpec {
    /// Parses `text`. `localZone` supplies the abbreviations (`CET`, `CEST`) that may end an
    /// expression meant in local time.
    public init(parsing text: String, localZone: ZoneRules = .local()) throws(ScheduleError) {
        self.init()
        var body = text
        if let stripped = Self.strip(suffix: " UTC", from: body) {
            utc = true
            body = stripped
        } else if let (stripped, flag) = Self.stripLocalAbbreviation(from: body, zone: localZone) {
            dst = flag
            body = stripped
        } else if let space = body.lastIndex(of: " "), ZoneRules.isValidName(String(body[body.index(after: space)...]))
        {
            timezone = String(body[body.index(after: space)...])
            body = String(body[..<space])
        }
        guard !body.isEmpty else { throw .invalidCalendar(text, reason: "it is empty") }

        if try !applyShorthand(body.asciiLowercased) {
            var scanner = CalendarScanner(Array(body.utf8), expression: text)
            try scanner.weekdays(into: &self)
            if try !scanner.date(into: &self) {
                try scanner.time(into: &self)
            }
            guard scanner.atEnd else { throw scanner.failure("unexpected text") }
        }
        normalize()
        guard isValid else { throw .invalidCalendar(text, reason: "a value is out of range") }
    }

    private static func strip(suffix: String, from text: String) -> String? {
        guard text.count >= suffix.count, text.asciiLowercased.hasSuffix(suffix.asciiLowercased) else { return nil }
        return String(text.dropLast(suffix.count))
    }

    private static func stripLocalAbbreviation(from text: String, zone: ZoneRules) -> (String, Int)? {
        for (flag, name) in [zone.standardAbbreviation, zone.daylightAbbreviation].enumerated() where !name.isEmpty {
            guard text.count > name.count, text.asciiLowercased.hasSuffix(name.asciiLowercased) else { continue }
            let head = text.dropLast(name.count)
            guard head.last == " " else { continue }
            return (String(head.dropLast()), flag)
        }
        return nil
    }

    private mutating func applyShorthand(_ name: String) throws(ScheduleError) -> Bool {
        let zero = [Component(start: 0)]
        switch name {
        case "minutely":
            microsecond = zero
        case "hourly":
            (minute, microsecond) = (zero, zero)
        case "daily":
            (hour, minute, microsecond) = (zero, zero, zero)
        case "monthly":
            (day, hour, minute, microsecond) = ([Component(start: 1)], zero, zero, zero)
        case "annually", "yearly", "anually":
            (month, day) = ([Component(start: 1)], [Component(start: 1)])
            (hour, minute, microsecond) = (zero, zero, zero)
        case "weekly":
            weekdays = 1
            (hour, minute, microsecond) = (zero, zero, zero)
        case "quarterly":
            month = [1, 4, 7, 10].map { Component(start: $0) }
            day = [Component(start: 1)]
            (hour, minute, microsecond) = (zero, zero, zero)
        case "biannually", "bi-annually", "semiannually", "semi-annually":
            month = [1, 7].map { Component(start: $0) }
            day = [Component(start: 1)]
            (hour, minute, microsecond) = (zero, zero, zero)
        default:
            return false
        }
        return true
    }
}

/// A cursor over the bytes of an expression, with systemd's grammar for each part.
struct CalendarScanner {
    let bytes: [UInt8]
    let expression: String
    var position = 0
    /// Set when a number ran past `Int.max`: the error then says so.
    var tooLarge = false

    init(_ bytes: [UInt8], expression: String) {
        self.bytes = bytes
        self.expression = expression
    }

    var atEnd: Bool { position >= bytes.count }

    /// C's `isspace` in the C locale (what strtoull skips).
    static func isCBlank(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || (0x09...0x0D).contains(byte)
    }
    func peek(_ offset: Int = 0) -> UInt8 { position + offset < bytes.count ? bytes[position + offset] : 0 }

    func failure(_ reason: String) -> ScheduleError {
        .invalidCalendar(expression, reason: "\(tooLarge ? "number too large" : reason) at column \(position + 1)")
    }

    mutating func skipSpaces() { while peek() == UInt8(ascii: " ") { position += 1 } }

    static let weekdayNames: [(String, Int)] = [
        ("monday", 0), ("mon", 0), ("tuesday", 1), ("tue", 1), ("wednesday", 2), ("wed", 2),
        ("thursday", 3), ("thu", 3), ("friday", 4), ("fri", 4), ("saturday", 5), ("sat", 5),
        ("sunday", 6), ("sun", 6),
    ]

    /// `Mon,Wed..Fri ` — optional; consumes the trailing spaces.
    mutating func weekdays(into spec: inout CalendarSpec) throws(ScheduleError) {
        var rangeStart = -1
        var first = true
        while true {
            guard let (name, number) = Self.weekdayNames.first(where: { hasPrefixIgnoringCase($0.0) }) else {
                if first { return }
                throw failure("expected a weekday")
            }
            let end = peek(name.utf8.count)
            guard [0, UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: ","), UInt8(ascii: " ")].contains(end) else {
                throw failure("expected a weekday")
            }
            if spec.weekdays < 0 { spec.weekdays = 0 }
            spec.weekdays |= 1 << number
            if rangeStart >= 0 {
                guard rangeStart <= number else { throw failure("weekday range runs backwards") }
                for day in (rangeStart + 1)..<max(number, rangeStart + 1) { spec.weekdays |= 1 << day }
            }
            position += name.utf8.count
            if atEnd { return }
            if peek() == UInt8(ascii: " ") {
                skipSpaces()
                return
            }
            switch peek() {
            case UInt8(ascii: "."):
                guard rangeStart < 0, peek(1) == UInt8(ascii: ".") else { throw failure("expected '..'") }
                rangeStart = number
                position += 2
            case UInt8(ascii: "-"):
                guard rangeStart < 0 else { throw failure("weekday range has two ends") }
                rangeStart = number
                position += 1
            case UInt8(ascii: ","):
                rangeStart = -1
                position += 1
            default:
                break
            }
            // A trailing comma is allowed, an open range is not.
            if atEnd || peek() == UInt8(ascii: " ") {
                skipSpaces()
                if rangeStart >= 0 { throw failure("weekday range has no end") }
                return
            }
            first = false
        }
    }

    private func hasPrefixIgnoringCase(_ name: String) -> Bool {
        let name = Array(name.utf8)
        guard position + name.count <= bytes.count else { return false }
        for (offset, byte) in name.enumerated() {
            let candidate = bytes[position + offset]
            let lowered = candidate >= 0x41 && candidate <= 0x5A ? candidate + 0x20 : candidate
            if lowered != byte { return false }
        }
        return true
    }

    /// The date part. Returns true when it was a `@timestamp`, which stands alone.
    mutating func date(into spec: inout CalendarSpec) throws(ScheduleError) -> Bool {
        if atEnd { return false }
        if peek() == UInt8(ascii: "@") {
            position += 1
            // systemd reads the seconds with strtoull: blanks, then one optional `+`.
            while !atEnd, Self.isCBlank(peek()) { position += 1 }
            if !atEnd, peek() == UInt8(ascii: "+") { position += 1 }
            guard let seconds = number(), seconds <= Int(Int32.max) * 1000 else {
                throw failure("expected seconds since the epoch")
            }
            let time = CivilTime(wallSeconds: Int64(seconds), utcOffset: 0, isDST: false, abbreviation: "UTC")
            spec.utc = true
            spec.year = [.init(start: time.year)]
            spec.month = [.init(start: time.month + 1)]
            spec.day = [.init(start: time.day)]
            spec.hour = [.init(start: time.hour)]
            spec.minute = [.init(start: time.minute)]
            spec.microsecond = [.init(start: time.second * CalendarSpec.usecPerSecond)]
            return true
        }
        let start = position
        let first = try chain(microseconds: false)
        // Already at the end, or a ':': it was a time, not a date.
        if atEnd || peek() == UInt8(ascii: ":") {
            position = start
            return false
        }
        if peek() == UInt8(ascii: "~") {
            spec.endOfMonth = true
        } else if peek() != UInt8(ascii: "-") {
            throw failure("expected '-' or '~' in the date")
        }
        position += 1
        let second = try chain(microseconds: false)
        if atEnd || peek() == UInt8(ascii: " ") {
            skipSpaces()
            spec.month = first
            spec.day = second
            return false
        }
        if spec.endOfMonth { throw failure("'~' must come before the day") }
        if peek() == UInt8(ascii: "~") {
            spec.endOfMonth = true
        } else if peek() != UInt8(ascii: "-") {
            throw failure("expected '-' or '~' in the date")
        }
        position += 1
        let third = try chain(microseconds: false)
        guard atEnd || peek() == UInt8(ascii: " ") else { throw failure("expected a space after the date") }
        skipSpaces()
        spec.year = first
        spec.month = second
        spec.day = third
        return false
    }

    /// `HH:MM[:SS[.ffffff]]`; absent means `00:00:00`.
    mutating func time(into spec: inout CalendarSpec) throws(ScheduleError) {
        let zero = [CalendarSpec.Component(start: 0)]
        if atEnd {
            (spec.hour, spec.minute, spec.microsecond) = (zero, zero, zero)
            return
        }
        let hour = try chain(microseconds: false)
        guard peek() == UInt8(ascii: ":") else { throw failure("expected ':' after the hour") }
        position += 1
        let minute = try chain(microseconds: false)
        var second: [CalendarSpec.Component]? = zero
        if !atEnd {
            guard peek() == UInt8(ascii: ":") else { throw failure("expected ':' after the minute") }
            position += 1
            second = try chain(microseconds: true)
            guard atEnd else { throw failure("unexpected text after the seconds") }
        }
        (spec.hour, spec.minute, spec.microsecond) = (hour, minute, second)
    }

    /// `*` (nil, or every second for the seconds field) or a comma list of components.
    mutating func chain(microseconds: Bool) throws(ScheduleError) -> [CalendarSpec.Component]? {
        if peek() == UInt8(ascii: "*") {
            position += 1
            return microseconds ? [.init(start: 0, repeatStep: CalendarSpec.usecPerSecond)] : nil
        }
        var components: [CalendarSpec.Component] = []
        while true {
            guard components.count <= CalendarSpec.maxComponents else { throw failure("too many list elements") }
            components.append(try component(microseconds: microseconds))
            guard peek() == UInt8(ascii: ",") else { return components }
            position += 1
        }
    }

    mutating func component(microseconds: Bool) throws(ScheduleError) -> CalendarSpec.Component {
        let unit = microseconds ? CalendarSpec.usecPerSecond : 1
        var component = CalendarSpec.Component(start: try decimal(microseconds: microseconds))
        if peek() == UInt8(ascii: "."), peek(1) == UInt8(ascii: ".") {
            position += 2
            component.stop = try decimal(microseconds: microseconds)
            component.repeatStep = unit
        }
        if peek() == UInt8(ascii: "/") {
            position += 1
            component.repeatStep = try decimal(microseconds: microseconds)
            guard component.repeatStep != 0 else { throw failure("a repetition of 0") }
        } else {
            guard component.start <= Int(Int32.max) - component.repeatStep else { throw failure("value too large") }
            if microseconds && component.stop >= 0 && component.start + component.repeatStep > component.stop {
                throw failure("a range of seconds shorter than one second needs a repetition")
            }
        }
        guard atEnd || " ,-~:".utf8.contains(peek()) else { throw failure("unexpected character") }
        return component
    }

    /// A decimal number; for seconds, with up to six decimals, in microseconds.
    mutating func decimal(microseconds: Bool) throws(ScheduleError) -> Int {
        guard let whole = number() else { throw failure("expected a number") }
        var value = whole
        if microseconds {
            value = whole.multipliedReportingOverflow(by: CalendarSpec.usecPerSecond).partialValue
            guard whole <= Int.max / CalendarSpec.usecPerSecond else { throw failure("value too large") }
            // One '.' is a decimal point, two are a range.
            if peek() == UInt8(ascii: "."), peek(1) != UInt8(ascii: ".") {
                position += 1
                value += try fraction()
            }
        }
        guard value <= Int(Int32.max) else { throw failure("value too large") }
        return value
    }

    /// Six decimal places, rounded by the seventh, further digits ignored.
    mutating func fraction() throws(ScheduleError) -> Int {
        var value = 0
        var digits = 0
        while digits < 6 {
            let byte = peek()
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else {
                if digits == 0 { throw failure("expected decimals") }
                break
            }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
            digits += 1
            position += 1
        }
        for _ in digits..<6 { value *= 10 }
        if peek() >= UInt8(ascii: "5") && peek() <= UInt8(ascii: "9") { value += 1 }
        while peek() >= UInt8(ascii: "0") && peek() <= UInt8(ascii: "9") { position += 1 }
        return value
    }

    /// Decimal digits, as `strtoul` reads them after a digit check; nil past `Int.max`, which
    /// `strtoul` refuses too (and which `tooLarge` then names in the error).
    mutating func number() -> Int? {
        let start = position
        var value = 0
        while peek() >= UInt8(ascii: "0") && peek() <= UInt8(ascii: "9") {
            let (product, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, carried) = product.addingReportingOverflow(Int(peek() - UInt8(ascii: "0")))
            guard !overflow, !carried else {
                tooLarge = true
                return nil
            }
            value = sum
            position += 1
        }
        return position > start ? value : nil
    }
}
