// Small text helpers for the modules that link FoundationEssentials only (no
// `trimmingCharacters(in:)`, no `String(format:)` there).

extension StringProtocol {
    /// Without leading and trailing spaces and tabs, and newlines too when `newlines`.
    public func trimmingBlanks(newlines: Bool = false) -> String {
        func isBlank(_ character: Character) -> Bool {
            character == " " || character == "\t" || (newlines && character.isNewline)
        }
        guard let first = firstIndex(where: { !isBlank($0) }), let last = lastIndex(where: { !isBlank($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}

extension Double {
    /// One decimal, rounded half away from zero: `12.3` for 12.34, what `%.1f` printed.
    public var oneDecimalText: String { decimalText(places: 1) }
}

extension Double {
    /// `places` decimals, rounded half away from zero: what `%.2f` printed for `places: 2`.
    public func decimalText(places: Int) -> String {
        var scale = 1.0
        for _ in 0..<max(0, places) { scale *= 10 }
        guard isFinite, abs(self) * scale < 9e18 else { return "\(self)" }
        let scaled = Int((abs(self) * scale).rounded())
        let unit = Int(scale)
        var text = (self < 0 && scaled > 0 ? "-" : "") + "\(scaled / unit)"
        if places > 0 {
            let fraction = String(scaled % unit)
            text += "." + String(repeating: "0", count: places - fraction.count) + fraction
        }
        return text
    }
}

extension String {
    /// Percent-encoded for a URL's path segment or query value: everything but RFC 3986's
    /// unreserved characters (ASCII letters, digits, `-._~`) as `%XX` of its UTF-8 bytes.
    public var percentEncoded: String {
        var bytes: [UInt8] = []
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                bytes.append(byte)
            default:
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `%XX` sequences decoded; nil when one is malformed or the bytes are not UTF-8 (as
    /// Foundation's `removingPercentEncoding`).
    public var percentDecoded: String? {
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        func digit(_ byte: UInt8?) -> UInt8? {
            switch byte {
            case .some(let byte) where (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte):
                return byte - UInt8(ascii: "0")
            case .some(let byte) where (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte):
                return byte - UInt8(ascii: "a") + 10
            case .some(let byte) where (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte):
                return byte - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = digit(iterator.next()), let low = digit(iterator.next()) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }
}

extension Sequence<UInt8> {
    /// Two lowercase hex digits per byte (by hand: FoundationEssentials has no `String(format:)`,
    /// and Foundation's showed in the per-build profile).
    public var hexText: String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(underestimatedCount * 2)
        for byte in self {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 15)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
