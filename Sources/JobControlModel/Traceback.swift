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

    public var frames: [Frame]

    /// Frames kept from each end of a deeper stack (a RecursionError has about a thousand).
    public static let maxFramesPerEnd = 50

    public init(frames: [Frame]) {
        var kept = frames
        if frames.count > 2 * Self.maxFramesPerEnd {
            let omitted = frames.count - 2 * Self.maxFramesPerEnd
            kept =
                Array(frames.prefix(Self.maxFramesPerEnd))
                + [Frame(filename: "…", function: "(\(omitted) frames omitted)")]
                + Array(frames.suffix(Self.maxFramesPerEnd))
        }
        self.frames = kept.map { frame in
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
    static func trimmed(_ repr: String) -> String {
        guard repr.count > maxReprLength else { return repr }
        let marker = "… (cut from \(repr.count) characters)"
        return String(repr.prefix(maxReprLength - marker.count)) + marker
    }

    public var json: JSONValue {
        .object([
            "frames": .array(
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
        ])
    }

    public init(json: JSONValue) {
        guard case .array(let frames)? = json["frames"] else {
            self.init(frames: [])
            return
        }
        self.init(
            frames: frames.map { value in
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
            })
    }
}
