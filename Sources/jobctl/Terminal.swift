import FoundationEssentials
import Glibc

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

/// Writes all of `text` to a file descriptor, retrying short writes and EINTR; gives up silently
/// on other errors (a closed pipe must not turn into a crash of the reporter).
func writeAll(_ descriptor: Int32, _ text: String) {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        if written < 0 && errno == EINTR { continue }
        guard written > 0 else { return }
        bytes = bytes.dropFirst(written)
    }
}
