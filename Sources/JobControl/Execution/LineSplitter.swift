/// Cuts a byte stream into lines. A line ends at `\n` (a `\r` before it is dropped). A line longer
/// than `maxLineBytes` is cut into pieces of at most that size, at a character boundary, each but
/// the last marked partial: a job printing megabytes without a newline costs bounded memory,
/// loses nothing, and every record stays small. Bytes that are not UTF-8 are replaced by U+FFFD.
struct LineSplitter {
    struct Line: Equatable {
        var text: String
        /// The line goes on in the next piece.
        var partial: Bool
        /// Bytes of output it holds (before replacement), its newline included.
        var bytes: Int
    }

    let maxLineBytes: Int
    private var pending: [UInt8] = []

    init(maxLineBytes: Int = LogRecord.maxMessageBytes) {
        self.maxLineBytes = maxLineBytes
        pending.reserveCapacity(4096)
    }

    /// Feeds bytes; returns the complete lines and pieces they finish.
    mutating func feed<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> [Line] {
        var lines: [Line] = []
        var rest = bytes[...]
        while let newline = rest.firstIndex(of: UInt8(ascii: "\n")) {
            pending.append(contentsOf: rest[..<newline])
            cutPieces(into: &lines)
            emit(pending[...], partial: false, dropCR: true, newline: true, into: &lines)
            pending.removeAll(keepingCapacity: true)
            rest = rest[rest.index(after: newline)...]
        }
        pending.append(contentsOf: rest)
        cutPieces(into: &lines)
        return lines
    }

    /// Moves full pieces of an overlong pending line to `lines`, keeping the rest pending.
    private mutating func cutPieces(into lines: inout [Line]) {
        var start = 0
        while pending.count - start > maxLineBytes {
            var end = start + maxLineBytes
            // The next piece starts at the lead byte of a UTF-8 sequence (back at most 3 bytes),
            // so a character is not split; invalid bytes are cut where they fall.
            var cut = end
            while cut > start + 1, end - cut < 3, pending[cut] & 0xC0 == 0x80 { cut -= 1 }
            if pending[cut] & 0xC0 != 0x80 { end = cut }
            emit(pending[start..<end], partial: true, dropCR: false, newline: false, into: &lines)
            start = end
        }
        if start > 0 { pending.removeFirst(start) }
    }

    /// `text` (newlines and all) as pieces of at most `maxBytes`, cut between characters: a long
    /// message handed in whole (`jobctl log`) is stored as a long line of output is.
    static func pieces(of text: String, maxBytes: Int = LogRecord.maxMessageBytes) -> [Line] {
        guard text.utf8.count > maxBytes else { return [Line(text: text, partial: false, bytes: text.utf8.count)] }
        var pieces: [Line] = []
        var current = String.UnicodeScalarView()
        var size = 0
        for scalar in text.unicodeScalars {
            let width = scalar.utf8.count
            if size + width > maxBytes {
                pieces.append(Line(text: String(current), partial: true, bytes: size))
                current = String.UnicodeScalarView()
                size = 0
            }
            current.append(scalar)
            size += width
        }
        pieces.append(Line(text: String(current), partial: false, bytes: size))
        return pieces
    }

    /// The last line, if the stream did not end with a newline (in pieces, if bytes that are not
    /// UTF-8 grew it past the limit as they were replaced).
    mutating func finish() -> [Line] {
        guard !pending.isEmpty else { return [] }
        defer { pending.removeAll() }
        var lines: [Line] = []
        emit(pending[...], partial: false, dropCR: true, newline: false, into: &lines)
        return lines
    }

    /// `bytes` as a line, or as pieces when replacing bytes that are not UTF-8 (each becomes
    /// U+FFFD, three bytes) made it longer than `maxLineBytes`: every record stays within it.
    private func emit(
        _ bytes: ArraySlice<UInt8>, partial: Bool, dropCR: Bool, newline: Bool, into lines: inout [Line]
    ) {
        let text = Self.text(bytes, dropCR: dropCR)
        let input = bytes.count + (newline ? 1 : 0)
        guard text.utf8.count > maxLineBytes else {
            lines.append(Line(text: text, partial: partial, bytes: input))
            return
        }
        var pieces = Self.pieces(of: text, maxBytes: maxLineBytes)
        // The input bytes, shared out by size; the last piece says whether the line goes on.
        var left = input
        for index in pieces.indices {
            let share = index == pieces.count - 1 ? left : min(left, pieces[index].bytes / 3)
            pieces[index].bytes = share
            left -= share
            pieces[index].partial = index < pieces.count - 1 || partial
        }
        lines += pieces
    }

    private static func text(_ bytes: ArraySlice<UInt8>, dropCR: Bool) -> String {
        var bytes = bytes
        if dropCR, bytes.last == UInt8(ascii: "\r") { bytes = bytes.dropLast() }
        return String(decoding: bytes, as: UTF8.self)
    }
}
