import FoundationEssentials

/// Log levels, numbered as in Python's `logging` (the seed's ancestor), so stored levels compare the
/// same way: "at least WARNING" is `level >= 30`.
public enum LogLevel: Int, Sendable, Codable, CaseIterable, Comparable {
    case debug = 10
    case info = 20
    case warning = 30
    case error = 40
    case critical = 50

    public var name: String {
        switch self {
        case .debug: return "DEBUG"
        case .info: return "INFO"
        case .warning: return "WARNING"
        case .error: return "ERROR"
        case .critical: return "CRITICAL"
        }
    }

    /// Accepts a name (`warning`, `WARN`, `info`) or a number.
    public init?(parsing text: String) {
        if let number = Int(text), let level = LogLevel(rawValue: number) {
            self = level
            return
        }
        switch text.uppercased() {
        case "DEBUG": self = .debug
        case "INFO": self = .info
        case "WARN", "WARNING": self = .warning
        case "ERROR": self = .error
        case "CRITICAL", "FATAL": self = .critical
        default: return nil
        }
    }

    /// The name of a stored level, also for numbers between the named ones.
    public static func name(of level: Int) -> String {
        LogLevel(rawValue: level)?.name ?? "LEVEL\(level)"
    }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// One log line of a build (the seed's Log row; the record is JSON instead of a pickled LogRecord).
public struct LogRecord: Sendable, Hashable {
    /// Assigned by storage; 0 before the record is stored.
    public var id: Int64
    public var buildID: Int64
    public var created: Date
    public var level: Int
    public var message: String
    /// Who wrote it: `stdout`, `stderr`, `jobcontrol`, or a function's logger name.
    public var logger: String
    public var exceptionTraceback: JSONValue?
    /// The line goes on in the next record of the same logger: a line longer than
    /// ``maxMessageBytes`` is stored as several records (as journald's `_LINE_BREAK=line-max`).
    public var partial: Bool
    /// Where in the code it was logged (a Python function's `logging` record: pathname, lineno,
    /// funcName).
    public var origin: Origin?

    public struct Origin: Sendable, Hashable {
        public var file: String
        public var line: Int
        public var function: String

        public init(file: String, line: Int, function: String) {
            self.file = file
            self.line = line
            self.function = function
        }
    }

    /// The longest message of one record, in bytes of output (journald's LineMax default).
    public static let maxMessageBytes = 48 * 1024

    public init(
        id: Int64 = 0, buildID: Int64, created: Date = Date(), level: Int, message: String,
        logger: String, exceptionTraceback: JSONValue? = nil, partial: Bool = false, origin: Origin? = nil
    ) {
        self.partial = partial
        self.origin = origin
        self.id = id
        self.buildID = buildID
        self.created = created
        self.level = level
        self.message = message
        self.logger = logger
        self.exceptionTraceback = exceptionTraceback
    }

    /// The JSON stored in the `record` column.
    public var recordJSON: JSONValue {
        var object: [String: JSONValue] = [
            "message": .string(message), "logger": .string(logger), "level_name": .string(LogLevel.name(of: level)),
        ]
        if partial { object["partial"] = .bool(true) }
        if let origin {
            object["pathname"] = .string(origin.file)
            object["lineno"] = .int(Int64(origin.line))
            object["funcName"] = .string(origin.function)
        }
        return .object(object)
    }

    /// The origin stored in a record's JSON (``recordJSON``), if it has one.
    public static func origin(inRecord record: JSONValue) -> Origin? {
        guard let file = record["pathname"]?.stringValue, let line = record["lineno"]?.intValue else { return nil }
        return Origin(file: file, line: Int(line), function: record["funcName"]?.stringValue ?? "?")
    }
}
