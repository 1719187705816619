import FoundationEssentials

/// The seed's traceback model, shared by builds (`exception_tb`) and log records: the frames of
/// the failure, each with its place, its code and the reprs of its local variables, trimmed.
public struct TracebackInfo: Sendable, Hashable {
    public struct Frame: Sendable, Hashable {
        public var filename: String
        public var lineNumber: Int?
        /// The function (or, for a command, the program).
        public var function: String
        /// The line of code, or the command line.
        public var line: String?
        /// Lines around it (for a command: the last lines of stderr).
        public var context: [String]
        /// Names mapped to reprs of their values, each trimmed to ``TracebackInfo/maxReprLength``.
        public var locals: [String: String]

        public init(
            filename: String, lineNumber: Int? = nil, function: String, line: String? = nil, context: [String] = [],
            locals: [String: String] = [:]
        ) {
            self.filename = filename
            self.lineNumber = lineNumber
            self.function = function
            self.line = line
            self.context = context
            self.locals = locals
        }
    }

    /// Reprs longer than this are cut, so one huge value cannot bloat a row.
    public static let maxReprLength = 2048

    /// An exception this one was raised from (`raise … from`, Python's `__cause__`) or while
    /// handling (`__context__`), with its own frames.
    public struct Chained: Sendable, Hashable {
        public var type: String
        public var message: String
        /// `cause` (the next exception was raised from this one) or `context` (raised while
        /// handling it).
        public var relation: String
        public var frames: [Frame]

        public init(type: String, message: String, relation: String, frames: [Frame]) {
            self.type = type
            self.message = message
            self.relation = relation
            self.frames = TracebackInfo.bounded(frames)
        }
    }

    public var frames: [Frame]
    /// The exceptions before this one, oldest first (at most ``maxChain``); empty for most.
    public var chain: [Chained]

    /// Frames kept from each end of a deeper stack (a RecursionError has about a thousand).
    public static let maxFramesPerEnd = 50
    /// Chained exceptions kept, the ones nearest this one.
    public static let maxChain = 5
    /// A chained exception's message is cut here (the build's own message has its own limit).
    static let maxChainedMessage = 4096

    public init(frames: [Frame], chain: [Chained] = []) {
        self.frames = Self.bounded(frames)
        self.chain = Array(chain.suffix(Self.maxChain)).map { entry in
            var entry = entry
            entry.message = Self.trimmed(entry.message, limit: Self.maxChainedMessage)
            return entry
        }
    }

    /// The frames kept of a stack: both ends of a deep one, each frame's reprs trimmed.
    static func bounded(_ frames: [Frame]) -> [Frame] {
        var kept = frames
        if frames.count > 2 * Self.maxFramesPerEnd {
            let omitted = frames.count - 2 * Self.maxFramesPerEnd
            kept =
                Array(frames.prefix(Self.maxFramesPerEnd))
                + [Frame(filename: "…", function: "(\(omitted) frames omitted)")]
                + Array(frames.suffix(Self.maxFramesPerEnd))
        }
        return kept.map { frame in
            var frame = frame
            frame.locals = frame.locals.mapValues(Self.trimmed)
            if frame.locals.count > 200 {  // a frame's reprs stay bounded too
                frame.locals = Dictionary(
                    uniqueKeysWithValues: frame.locals.sorted { $0.key < $1.key }.prefix(200).map { ($0.key, $0.value) }
                )
            }
            return frame
        }
    }

    /// At most `maxReprLength` characters, marked when cut; trimming twice changes nothing.
    static func trimmed(_ repr: String) -> String { trimmed(repr, limit: maxReprLength) }

    static func trimmed(_ text: String, limit: Int) -> String {
        guard text.count > limit else { return text }
        let marker = "… (cut from \(text.count) characters)"
        return String(text.prefix(limit - marker.count)) + marker
    }

    public var json: JSONValue {
        var object: [String: JSONValue] = ["frames": Self.json(frames)]
        if !chain.isEmpty {
            object["chain"] = .array(
                chain.map {
                    .object([
                        "type": .string($0.type), "message": .string($0.message), "relation": .string($0.relation),
                        "frames": Self.json($0.frames),
                    ])
                })
        }
        return .object(object)
    }

    static func json(_ frames: [Frame]) -> JSONValue {
        .array(
            frames.map { frame in
                var object: [String: JSONValue] = [
                    "filename": .string(frame.filename),
                    "function": .string(frame.function),
                    "context": .array(frame.context.map { .string($0) }),
                    "locals": .object(frame.locals.mapValues { .string($0) }),
                ]
                object["lineno"] = frame.lineNumber.map { .int(Int64($0)) } ?? .null
                object["line"] = frame.line.map { .string($0) } ?? .null
                return .object(object)
            })
    }

    public init(json: JSONValue) {
        var chain: [Chained] = []
        if case .array(let entries)? = json["chain"] {
            chain = entries.compactMap { entry in
                guard case .object = entry else { return nil }
                return Chained(
                    type: entry["type"]?.stringValue ?? "?", message: entry["message"]?.stringValue ?? "",
                    relation: entry["relation"]?.stringValue == "cause" ? "cause" : "context",
                    frames: Self.frames(entry["frames"]))
            }
        }
        self.init(frames: Self.frames(json["frames"]), chain: chain)
    }

    static func frames(_ json: JSONValue?) -> [Frame] {
        guard case .array(let frames)? = json else { return [] }
        return frames.map { value in
            var locals: [String: String] = [:]
            if case .object(let object)? = value["locals"] {
                locals = object.compactMapValues(\.stringValue)
            }
            var context: [String] = []
            if case .array(let lines)? = value["context"] { context = lines.compactMap(\.stringValue) }
            return Frame(
                filename: value["filename"]?.stringValue ?? "?",
                lineNumber: value["lineno"]?.intValue.map(Int.init),
                function: value["function"]?.stringValue ?? "?", line: value["line"]?.stringValue, context: context,
                locals: locals)
        }
    }

    /// The traceback as Python prints it (`Traceback (most recent call last):`, each frame's
    /// place and code), the chained exceptions first; `exception` is the last line's
    /// `Type: message`. Empty when no frame has a line number (a command's failure, whose
    /// stderr tail says more).
    public func pythonText(exception: String) -> [String] {
        guard (frames + chain.flatMap(\.frames)).contains(where: { $0.lineNumber != nil }) else { return [] }
        func block(_ frames: [Frame], _ last: String) -> [String] {
            var lines = frames.isEmpty ? [] : ["Traceback (most recent call last):"]
            for frame in frames {
                lines.append(
                    "  File \"\(frame.filename)\"" + (frame.lineNumber.map { ", line \($0)" } ?? "")
                        + ", in \(frame.function)")
                if let line = frame.line, !line.isEmpty { lines.append("    " + line) }
            }
            return lines + [last]
        }
        var lines: [String] = []
        for entry in chain {
            lines += block(entry.frames, entry.message.isEmpty ? entry.type : "\(entry.type): \(entry.message)")
            lines += [
                "",
                entry.relation == "cause"
                    ? "The above exception was the direct cause of the following exception:"
                    : "During handling of the above exception, another exception occurred:",
                "",
            ]
        }
        return lines + block(frames, exception)
    }
}
