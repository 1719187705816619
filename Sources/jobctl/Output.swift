import FoundationEssentials
import Glibc
import JobControlModel
import JobControlProtocol

/// Prints a JSON value, pretty and with sorted keys: the stable `--json` output.
func printJSON(_ value: JSONValue) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data("null".utf8)
    print(String(decoding: data, as: UTF8.self))
}

/// Prints a JSON value on one line (for streams: one object per line).
func printJSONLine(_ value: JSONValue) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data("null".utf8)
    writeOut(String(decoding: data, as: UTF8.self) + "\n")
}

/// Prints rows under a header, columns padded to their widest cell; each cell on one line
/// (``String/inOneLine(limit:)``), whatever a job put in its title or exception.
func printTable(_ header: [String], _ rows: [[String]]) {
    let rows = rows.map { $0.map { $0.inOneLine() } }
    let widths = header.indices.map { column in
        ([header] + rows).map { $0[column].count }.max() ?? 0
    }
    func line(_ cells: [String]) -> String {
        zip(cells, widths).enumerated().map { index, pair in
            index == cells.count - 1 ? pair.0 : pair.0.padded(to: pair.1)
        }.joined(separator: "  ")
    }
    print(line(header))
    rows.forEach { print(line($0)) }
}

/// UTC, to the second (`2026-12-02T14:31:32Z`).
func displayTime(_ date: Date?) -> String {
    guard let date else { return "-" }
    return Timestamps.string(date, fractional: false)
}

func displayDuration(from start: Date?, to end: Date?) -> String {
    guard let start else { return "-" }
    let seconds = (end ?? Date()).timeIntervalSince(start)
    if seconds < 60 { return seconds.oneDecimalText + "s" }
    if seconds < 3600 { return "\(Int(seconds) / 60)m\(Int(seconds) % 60)s" }
    return "\(Int(seconds) / 3600)h\(Int(seconds) % 3600 / 60)m"
}

/// One line saying how a build ended, for people.
func buildSummary(_ build: Build) -> String {
    var text = "build \(build.id) of \(build.jobID): \(build.state.rawValue)"
    if build.finished { text += " in \(displayDuration(from: build.startTime, to: build.endTime))" }
    if let message = build.exception?["message"]?.stringValue { text += ": \(message)" }
    return text
}

func printBuildDetails(_ build: Build) {
    print("Build:      \(build.id)")
    print("Job:        \(build.jobID)")
    print("State:      \(build.state.rawValue)")
    print("Started:    \(displayTime(build.startTime))")
    print("Finished:   \(displayTime(build.endTime))")
    print("Duration:   \(displayDuration(from: build.startTime, to: build.endTime))")
    if let node = build.node { print("Node:       \(node)") }
    if let retval = build.retval { print("Retval:     \(retval.jsonText())") }
    if let usage = build.usage, !usage.summary.isEmpty { print("Resources:  \(usage.summary)") }
    if let pins = build.config["build"]?["dependency_builds"], case .object(let object) = pins, !object.isEmpty {
        print("Pinned:     " + object.keys.sorted().map { "\($0)=\(object[$0]!.jsonText())" }.joined(separator: ", "))
    }
    if case .object(let values)? = build.config["build"]?["parameters"], !values.isEmpty {
        print(
            "Parameters: "
                + values.keys.sorted().map { name in
                    let value = values[name]!
                    let text =
                        value["!secret"]?.stringValue.map { "!secret \($0)" } ?? value.stringValue ?? value.jsonText()
                    return "\(name)=\(text)"
                }.joined(separator: ", "))
    }
    if let exception = build.exception {
        print("Exception:  \(exception["type"]?.stringValue ?? "?"): \(exception["message"]?.stringValue ?? "")")
        if let traceback = build.exceptionTraceback {
            let type = exception["type"]?.stringValue ?? "?"
            let message = exception["message"]?.stringValue ?? ""
            let text = TracebackInfo(json: traceback).pythonText(
                exception: message.isEmpty ? type : "\(type): \(message)")
            if !text.isEmpty { text.forEach { print("  \($0)") } }
        }
        if case .array(let tail)? = exception["stderr_tail"], !tail.isEmpty {
            print("Stderr tail:")
            tail.forEach { print("  \($0.stringValue ?? $0.jsonText())") }
        }
    }
}

extension Build {
    init(wire value: JSONValue?) throws {
        guard let value else { throw ClientDecodingError.missing("build") }
        self = try WireFormat.build(from: value)
    }
}

enum ClientDecodingError: Error, CustomStringConvertible {
    case missing(String)
    var description: String {
        switch self {
        case .missing(let field): return "the daemon's reply has no '\(field)'"
        }
    }
}

func arrayParameter(_ parameters: [String: JSONValue], _ name: String) throws -> [JSONValue] {
    guard case .array(let values)? = parameters[name] else { throw ClientDecodingError.missing(name) }
    return values
}

extension StringProtocol {
    /// Exactly `width` characters: padded with spaces, or cut (as `padding(toLength:)` did).
    func padded(to width: Int) -> String {
        count >= width ? String(prefix(width)) : String(self) + String(repeating: " ", count: width - count)
    }

    /// The text as one cell of a table or one row of a tree, to a terminal or a pipe alike: a line
    /// break shown as `^J` (`^M`), a tab as a space, so the row stays one line; longer than
    /// `limit` characters, cut with `…` (`--json` has the whole text).
    func inOneLine(limit: Int? = nil) -> String {
        var text = String(self)
        if text.utf8.contains(where: { $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            var shown = String.UnicodeScalarView()
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\n": shown.append(contentsOf: "^J".unicodeScalars)
                case "\r": shown.append(contentsOf: "^M".unicodeScalars)
                case "\t": shown.append(" ")
                default: shown.append(scalar)
                }
            }
            text = String(shown)
        }
        guard let limit, text.count > limit else { return text }
        return String(text.prefix(Swift.max(0, limit - 1))) + "…"
    }
}

extension Array where Element == String {
    /// The elements with `separator` between them. This overload is chosen over the standard
    /// library's for every `[String]` in jobctl: that one runs as unspecialized generic code
    /// here, and looks its witnesses up at run time on first use, each lookup a scan of the
    /// executable's conformance records (a quarter of a `jobctl jobs`; docs/performance.md).
    func joined(separator: String = "") -> String {
        var text = ""
        for (index, element) in enumerated() {
            if index > 0 { text += separator }
            text += element
        }
        return text
    }
}
