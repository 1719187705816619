import FoundationEssentials
@preconcurrency import Glibc
import Synchronization

/// What stdout is: a terminal that can redraw and take colours, or a pipe that gets plain lines.
struct Terminal: Sendable {
    /// stdout is a terminal (and TERM is not "dumb"): redraw in place.
    let isInteractive: Bool
    /// Colours: on a terminal, unless NO_COLOR is set (https://no-color.org).
    let colors: Bool

    static let current: Terminal = {
        let environment = ProcessInfo.processInfo.environment
        let interactive = isatty(STDOUT_FILENO) == 1 && environment["TERM"] != "dumb"
        return Terminal(isInteractive: interactive, colors: interactive && (environment["NO_COLOR"] ?? "").isEmpty)
    }()

    enum Color: String {
        case red = "31", green = "32", yellow = "33", blue = "34", cyan = "36", dim = "2", bold = "1"
    }

    func paint(_ text: String, _ color: Color) -> String {
        colors ? "\u{1B}[\(color.rawValue)m\(text)\u{1B}[0m" : text
    }

    func paint(state: String) -> String {
        switch state {
        case "SUCCESSFUL": paint(state, .green)
        case "FAILED": paint(state, .red)
        case "RUNNING": paint(state, .cyan)
        case "SKIPPED": paint(state, .yellow)
        default: state
        }
    }

    func paint(level: Int, _ text: String) -> String {
        switch level {
        case 40...: paint(text, .red)
        case 30..<40: paint(text, .yellow)
        case ..<20: paint(text, .dim)
        default: text
        }
    }
}

/// Writes to stdout unbuffered (log lines and redraws must appear at once).
func writeOut(_ text: String) {
    writeAll(1, text)
}

/// Writes all of `text` to a file descriptor, retrying short writes and EINTR; gives up on other
/// errors (a closed pipe must not turn into a crash of the reporter), except that a reader gone
/// from stdout ends jobctl as SIGPIPE would (``readerGone()``). A failed write to stdout makes
/// jobctl's exit an error (``OutputCheck``). Returns 0, or the errno it gave up on (EIO for a
/// write that wrote nothing).
@discardableResult
func writeAll(_ descriptor: Int32, _ text: String) -> Int32 {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        if written < 0 && errno == EINTR { continue }
        if written < 0 && errno == EPIPE && descriptor == STDOUT_FILENO { readerGone() }
        guard written > 0 else {
            let failure = written < 0 ? errno : EIO
            if descriptor == STDOUT_FILENO { OutputCheck.record(failure) }
            return failure
        }
        bytes = bytes.dropFirst(written)
    }
    return 0
}

/// The reader of stdout is gone (`jobctl logs ID --follow | head`): end now, as a process killed
/// by SIGPIPE (status 141 in the shell), instead of following a build for hours for nobody. The
/// async client ignores SIGPIPE (so a daemon that hangs up is an error, not a death), which is
/// why this is done by hand.
func readerGone() -> Never {
    signal(SIGPIPE, SIG_DFL)
    raise(SIGPIPE)
    exit(141)
}

extension String {
    /// The text with its control characters shown rather than obeyed, for a terminal: what a job
    /// prints, or names its progress, must not set the window title, clear the screen or move
    /// the cursor of whoever reads its log (`ESC]0;…` shows as `^[]0;…`). C0 controls as caret
    /// notation (`^[`, `^M`), DEL as `^?`, C1 controls as `\u{9B}`; tab always kept, newline
    /// kept unless `newlines` (a progress block counts its lines).
    func shownOnTerminal(newlines: Bool = false) -> String {
        func isControl(_ scalar: Unicode.Scalar) -> Bool {
            switch scalar.value {
            case 0x09: return false
            case 0x0A: return newlines
            case 0x00..<0x20, 0x7F, 0x80..<0xA0: return true
            default: return false
            }
        }
        guard unicodeScalars.contains(where: isControl) else { return self }
        var shown = String.UnicodeScalarView()
        for scalar in unicodeScalars {
            guard isControl(scalar) else {
                shown.append(scalar)
                continue
            }
            switch scalar.value {
            case 0x7F: shown.append(contentsOf: "^?".unicodeScalars)
            case ..<0x20:
                shown.append("^")
                shown.append(Unicode.Scalar(UInt8(scalar.value + 0x40)))
            default: shown.append(contentsOf: "\\u{\(String(scalar.value, radix: 16, uppercase: true))}".unicodeScalars)
            }
        }
        return String(shown)
    }
}

/// `print` for this program: on a terminal, control characters in what it prints are shown, not
/// obeyed (``String/shownOnTerminal(newlines:)``); to a pipe or file, the text is as stored.
/// Every `print` of jobctl passes here, so job-controlled text (log lines, titles, exceptions,
/// status lines, parameters) cannot reach the terminal raw; jobctl's own escape sequences (the
/// live view's colours and redraws) go through ``writeOut(_:)`` instead.
func print(_ items: Any..., separator: String = " ", terminator: String = "\n") {
    print(items.map { "\($0)" }.joined(separator: separator), terminator: terminator)
}

/// The one-text `print` every jobctl line goes through: the text goes to C's standard output (as
/// `Swift.print` writes it) with no `Any` on the way. Formatting an `Any` looks its conformances
/// up at run time, and each first lookup scans every conformance record of this static executable
/// (about 4,900): that was a quarter of the instructions of a `jobctl status` (docs/performance.md).
func print(_ text: String, terminator: String = "\n") {
    let shown = Terminal.standardOutputIsTerminal ? text.shownOnTerminal() : text
    var line = shown + terminator
    line.withUTF8 { bytes in _ = fwrite(bytes.baseAddress, 1, bytes.count, stdout) }
    // Every 64 KiB, a flush: a reader that is gone (`jobctl logs ID | head`) ends jobctl, and a
    // long log is not read to its end for nobody. (Not each line: a pipe keeps its buffer.) A
    // write that failed otherwise (a full disk) makes the exit an error (``OutputCheck``).
    let size = line.utf8.count
    let total = Terminal.printedBytes.add(size, ordering: .relaxed).newValue
    if total >> 16 != (total - size) >> 16 { fflush(nil) }
    OutputCheck.checkStandardOutput()
}

extension Terminal {
    /// stdout is a terminal (of any kind, "dumb" too: it still obeys control characters).
    static let standardOutputIsTerminal = isatty(STDOUT_FILENO) == 1
    /// Bytes printed so far (``print(_:separator:terminator:)`` checks for a gone reader by them).
    static let printedBytes = Atomic<Int>(0)
}
