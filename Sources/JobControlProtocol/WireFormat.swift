import FoundationEssentials
import JobControlModel

/// Our model types in the shapes of ``Interfaces/managerDescription``, both ways. `jobctl --json`
/// prints these same shapes, so scripts see one format.
public enum WireFormat {
    public static func timestamp(_ date: Date?) -> JSONValue { Timestamps.json(date) }

    public static func date(_ value: JSONValue?) -> Date? { Timestamps.date(value) }

    public static func build(_ build: Build) -> JSONValue {
        build.json
    }

    public static func build(from value: JSONValue) throws(VarlinkError) -> Build {
        guard let id = value["id"]?.intValue, let jobID = value["job_id"]?.stringValue else {
            throw .invalidParameter("build")
        }
        func optional(_ key: String) -> JSONValue? {
            guard let field = value[key], field != .null else { return nil }
            return field
        }
        return Build(
            id: id, jobID: jobID, startTime: date(value["start_time"]), endTime: date(value["end_time"]),
            started: value["started"]?.boolValue ?? false, finished: value["finished"]?.boolValue ?? false,
            success: value["success"]?.boolValue ?? false, skipped: value["skipped"]?.boolValue ?? false,
            config: value["config"] ?? .object([:]), retval: optional("retval"), exception: optional("exception"),
            exceptionTraceback: optional("exception_tb"), node: value["node"]?.stringValue,
            usage: optional("usage").flatMap(ResourceUsage.init(json:)))
    }

    /// `partial` is present (true) only on a piece of a long line that goes on in the next record.
    public static func log(_ record: LogRecord) -> JSONValue {
        var object: [String: JSONValue] = [
            "id": .int(record.id),
            "build_id": .int(record.buildID),
            "created": timestamp(record.created),
            "level": .int(Int64(record.level)),
            "level_name": .string(LogLevel.name(of: record.level)),
            "logger": .string(record.logger),
            "message": .string(record.message),
        ]
        if record.partial { object["partial"] = .bool(true) }
        if let origin = record.origin {
            object["file"] = .string(origin.file)
            object["line"] = .int(Int64(origin.line))
            object["function"] = .string(origin.function)
        }
        if let traceback = record.exceptionTraceback { object["exception_tb"] = traceback }
        return .object(object)
    }

    public static func log(from value: JSONValue) throws(VarlinkError) -> LogRecord {
        guard let id = value["id"]?.intValue, let buildID = value["build_id"]?.intValue,
            let level = value["level"]?.intValue
        else { throw .invalidParameter("logs") }
        return LogRecord(
            id: id, buildID: buildID, created: date(value["created"]) ?? Date(timeIntervalSince1970: 0),
            level: Int(level), message: value["message"]?.stringValue ?? "", logger: value["logger"]?.stringValue ?? "",
            exceptionTraceback: value["exception_tb"], partial: value["partial"]?.boolValue ?? false,
            origin: value["file"]?.stringValue.map {
                LogRecord.Origin(
                    file: $0, line: Int(value["line"]?.intValue ?? 0), function: value["function"]?.stringValue ?? "?")
            })
    }
}
