import JobControlModel
import JobControlProtocol

/// Turns log records into text for people: `time LEVEL logger: message`, one line per line of
/// output; a message's own further lines are indented. A long line the daemon stored as several
/// records (all but the last `partial`) comes out as the one line it was: the pieces after the
/// first are printed without a prefix.
struct LogPrinter {
    /// The logger whose line is open (its last piece was partial).
    private var open: String?
    /// Paints the time and level (the follower on a terminal); plain when nil.
    var paint: ((_ time: String, _ level: Int, _ levelText: String) -> String)?

    init(paint: ((_ time: String, _ level: Int, _ levelText: String) -> String)? = nil) {
        self.paint = paint
    }

    /// The text for `record`, ending in a newline unless its line goes on in a later record. On
    /// a terminal, control characters in the job's text are shown, not obeyed (the live view
    /// writes this past `print`).
    mutating func text(_ record: LogRecord) -> String {
        var text = ""
        var record = record
        if Terminal.standardOutputIsTerminal {
            record.message = record.message.shownOnTerminal()
            record.logger = record.logger.shownOnTerminal()
        }
        // A record's own line breaks (a Log call's message; a command's output is split into
        // lines before it is stored) go on indented, on a terminal and off it: no line of its text
        // can pass for a record of its own, with a time and a logger it chose.
        record.message = Self.indentingLineBreaks(record.message)
        record.logger = Self.indentingLineBreaks(record.logger)
        if let open, open == record.logger {
            text = record.message
        } else {
            if open != nil { text = "\n" }  // another logger cut in: end the open line
            let time = displayTime(record.created)
            let level = LogLevel.name(of: record.level).padded(to: 8)
            let prefix = paint.map { $0(time, record.level, level) } ?? "\(time) \(level)"
            text += "\(prefix) \(record.logger): \(record.message)"
        }
        open = record.partial ? record.logger : nil
        if !record.partial { text += "\n" }
        return text
    }

    /// `text` with four spaces after each of its line breaks: LF, CR LF, and a lone CR (which,
    /// shown later by `cat` on a terminal, would write over the start of the line).
    static func indentingLineBreaks(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == 0x0A || $0 == 0x0D }) else { return text }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count + 16)
        var previous: UInt8 = 0
        for byte in text.utf8 {
            // The LF of a CR LF follows its CR: the indent goes after the pair.
            if previous == 0x0D, byte == 0x0A { bytes.removeLast(4) }
            bytes.append(byte)
            if byte == 0x0A || byte == 0x0D { bytes += [0x20, 0x20, 0x20, 0x20] }
            previous = byte
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A newline if a line is still open (the log ended inside a long line).
    mutating func finish() -> String {
        defer { open = nil }
        return open == nil ? "" : "\n"
    }

    /// Whether a line is open.
    var isOpen: Bool { open != nil }
}
