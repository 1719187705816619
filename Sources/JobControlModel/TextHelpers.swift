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
    public var oneDecimalText: String {
        guard isFinite else { return "\(self)" }
        let tenths = Int((abs(self) * 10).rounded())
        return (self < 0 && tenths > 0 ? "-" : "") + "\(tenths / 10).\(tenths % 10)"
    }
}
