extension String {
    /// Control characters as `\u{…}`, for a log line made of what someone else sent (a job id
    /// from a URL, a webhook receiver's answer): a newline there forged a whole log line
    /// ("action=Reload by=token root"), an escape sequence rewrote the terminal.
    package var escapingControls: String {
        guard unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F..<0xA0).contains($0.value) }) else {
            return self
        }
        var escaped = String.UnicodeScalarView()
        for scalar in unicodeScalars {
            if scalar.value < 0x20 || (0x7F..<0xA0).contains(scalar.value) {
                escaped.append(contentsOf: "\\u{\(String(scalar.value, radix: 16))}".unicodeScalars)
            } else {
                escaped.append(scalar)
            }
        }
        return String(escaped)
    }
}
