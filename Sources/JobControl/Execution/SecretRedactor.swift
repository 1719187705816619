import Dispatch
import FoundationEssentials
import Glibc

/// Replaces secret values with `***` wherever a build's text could carry them: log lines, the
/// exception (argv, stderr tail), the traceback and the return value. Nothing a build stores or
/// shows keeps a secret's value.
public struct SecretRedactor: Sendable {
    public static let mask = "***"
    /// The secrets' UTF-8 bytes, longest first, so a secret that contains another is masked whole.
    /// Matched as bytes, not as characters: a secret followed by a combining mark, or ending in
    /// `\r` before a `\n`, is part of a larger character but still in the text. (A match of valid
    /// UTF-8 in valid UTF-8 always starts and ends on a scalar boundary, so the result stays valid.)
    private let values: [[UInt8]]

    /// Each secret is also masked in the escaped forms a build's text is likely to carry it in:
    /// inside a JSON string, and in Python's `repr()` (tracebacks' locals, `%r` in a log
    /// message, an exception's text), where a backslash, a quote or a control character would
    /// otherwise let it through.
    ///
    /// A secret of several lines (a PEM key, a credentials file) reaches a build's log one line
    /// per record, so each of its lines is masked on its own too: every line with at least
    /// ``minimumLineLength`` characters besides surrounding blanks, trimmed of them. Shorter
    /// lines (`{`, `}`, an empty one) would mask common text everywhere and are not.
    public init(_ values: some Sequence<String>) {
        var forms: Set<String> = []
        func add(_ value: String) {
            forms.insert(value)
            forms.formUnion(Self.escapedForms(of: value))
        }
        for value in values where !value.isEmpty {
            add(value)
            for line in Self.lines(of: value) { add(line) }
        }
        self.values = forms.map { Array($0.utf8) }.sorted { $0.count > $1.count }
    }

    /// How long a line of a secret of several lines must be to be masked on its own.
    public static let minimumLineLength = 4

    /// The lines of a secret of several lines that are masked on their own (none for one line).
    static func lines(of value: String) -> [String] {
        guard value.utf8.contains(where: { $0 == 0x0A || $0 == 0x0D }) else { return [] }
        return value.split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }).compactMap { line in
            let trimmed = line.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()
            return trimmed.count >= minimumLineLength ? String(trimmed) : nil
        }
    }

    /// `value` as JSON string content (as written here, and as Python's `json.dumps` writes it,
    /// every non-ASCII character `\\uXXXX`) and as Python's `repr` writes it between either quote
    /// (characters Python does not print, such as U+00A0 or U+200B, as `\\x`, `\\u` or `\\U`).
    static func escapedForms(of value: String) -> [String] {
        var forms: [String] = []
        let json = JSONValue.string(value).jsonText()
        forms.append(String(json.dropFirst().dropLast()))
        forms.append(asciiJSON(value))
        // A Python older than this runtime's Unicode tables does not know the newest characters
        // and escapes them too: one form more for each Unicode version since 13.0 (Python 3.9)
        // that a character of the secret comes from, escaping that version's and later ones.
        let ages = Set(
            value.unicodeScalars.compactMap { scalar -> Int? in
                guard scalar.value >= 0x80, printable(scalar), let age = scalar.properties.age, age.major >= 13 else {
                    return nil
                }
                return age.major * 100 + age.minor
            })
        for (escapingApostrophe, unknownFrom) in [true, false].flatMap({ quote in
            ([nil] + ages.sorted()).map { (quote, $0) }
        }) {
            var python = ""
            for scalar in value.unicodeScalars {
                let unknown =
                    unknownFrom.map { from in scalar.properties.age.map { $0.major * 100 + $0.minor >= from } ?? false }
                    ?? false
                switch scalar {
                case "\\": python += "\\\\"
                case "\t": python += "\\t"
                case "\n": python += "\\n"
                case "\r": python += "\\r"
                case "'" where escapingApostrophe: python += "\\'"
                case _
                where scalar.value < 0x20 || scalar.value == 0x7F
                    || (scalar.value >= 0x80 && (!printable(scalar) || unknown)):
                    let digits = scalar.value < 0x100 ? 2 : scalar.value < 0x10000 ? 4 : 8
                    let prefix = digits == 2 ? "\\x" : digits == 4 ? "\\u" : "\\U"
                    python += prefix + hex(scalar.value, digits: digits)
                default: python.unicodeScalars.append(scalar)
                }
            }
            forms.append(python)
        }
        return forms.filter { $0 != value && !$0.isEmpty }
    }

    /// Whether Python's `str.isprintable` holds for a non-ASCII scalar: not a control, format,
    /// surrogate, private-use or unassigned code point, nor a separator.
    static func printable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator,
            .spaceSeparator:
            return false
        default: return true
        }
    }

    /// JSON string content with every non-ASCII character escaped (`ensure_ascii`, Python's
    /// default): `\\u00e9`, astral characters as surrogate pairs.
    static func asciiJSON(_ value: String) -> String {
        var out = ""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{8}": out += "\\b"
            case "\u{C}": out += "\\f"
            case _ where scalar.value < 0x20 || scalar.value > 0x7E && scalar.value < 0x10000:
                out += "\\u" + hex(scalar.value, digits: 4)
            case _ where scalar.value >= 0x10000:
                let offset = scalar.value - 0x10000
                out +=
                    "\\u" + hex(0xD800 + (offset >> 10), digits: 4) + "\\u" + hex(0xDC00 + (offset & 0x3FF), digits: 4)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    private static func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }

    public var isEmpty: Bool { values.isEmpty }

    public func redact(_ text: String) -> String {
        guard !values.isEmpty else { return text }
        // The usual case, on every log line of every build (each has its token to mask): no value
        // occurs. A memchr/memcmp scan per value over the string's own bytes, nothing copied.
        let occurs =
            text.utf8.withContiguousStorageIfAvailable { haystack in
                values.contains { Self.occurs($0, in: UnsafeRawBufferPointer(haystack)) }
            } ?? true
        guard occurs else { return text }
        var bytes = Array(text.utf8)
        var changed = false
        for value in values {
            if let replaced = Self.replacing(value, in: bytes) {
                bytes = replaced
                changed = true
            }
        }
        return changed ? String(decoding: bytes, as: UTF8.self) : text
    }

    private static func occurs(_ needle: [UInt8], in haystack: UnsafeRawBufferPointer) -> Bool {
        guard let first = needle.first, needle.count <= haystack.count, let base = haystack.baseAddress else {
            return false
        }
        return needle.withUnsafeBytes { needle in
            guard let needleBase = needle.baseAddress else { return false }
            var offset = 0
            let last = haystack.count - needle.count
            while offset <= last {
                guard let found = memchr(base + offset, Int32(first), last - offset + 1) else { return false }
                let at = base.distance(to: UnsafeRawPointer(found))
                if memcmp(base + at, needleBase, needle.count) == 0 { return true }
                offset = at + 1
            }
            return false
        }
    }

    /// `text` with every occurrence of `needle` masked, or nil when there is none.
    private static func replacing(_ needle: [UInt8], in text: [UInt8]) -> [UInt8]? {
        guard let first = needle.first, needle.count <= text.count else { return nil }
        var result: [UInt8] = []
        var index = 0
        var found = false
        while index <= text.count - needle.count {
            if text[index] == first && text[index..<index + needle.count].elementsEqual(needle) {
                if !found { result.reserveCapacity(text.count) }
                result += mask.utf8
                index += needle.count
                found = true
            } else {
                result.append(text[index])
                index += 1
            }
        }
        guard found else { return nil }
        result += text[index...]
        return result
    }

    public func redact(_ value: JSONValue) -> JSONValue {
        guard !values.isEmpty else { return value }
        switch value {
        case .string(let text): return .string(redact(text))
        case .array(let values): return .array(values.map(redact))
        case .object(let object):
            // Two keys may mask to the same text: the later one wins, nothing traps.
            return .object(
                Dictionary(object.map { (redact($0.key), redact($0.value)) }, uniquingKeysWith: { _, b in b }))
        default: return value
        }
    }
}
