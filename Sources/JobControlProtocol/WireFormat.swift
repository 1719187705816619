import Foundation
import JobControl

/// Our model types in the shapes of ``Interfaces/managerDescription``, both ways. `jobctl --json`
/// prints these same shapes, so scripts see one format.
public enum WireFormat {
    public static func timestamp(_ date: Date?) -> JSONValue { Timestamps.json(date) }

    public static func date(_ value: JSONValue?) -> Date? { Timestamps.date(value) }

    public static func job(_ job: JobConfig) -> JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(job.id),
            "function": .string(job.function),
            "args": .array(job.args.map(\.storedJSON)),
            "kwargs": .object(job.kwargs.mapValues(\.storedJSON)),
            "dependencies": .array(job.dependencies.map { .string($0) }),
        ]
        if let title = job.title { object["title"] = .string(title) }
        if let notes = job.notes { object["notes"] = .string(notes) }
        object["environment"] = .object(job.environment.mapValues(\.storedJSON))
        object["working_directory"] = job.workingDirectory.map { .string($0) } ?? .null
        object["user"] = job.user.map { .string($0) } ?? .null
        object["group"] = job.group.map { .string($0) } ?? .null
        object["tags"] = .array(job.tags.map { .string($0) })
        object["enabled"] = .bool(job.enabled)
        object["protected"] = .bool(job.protected)
        object["timeout"] = job.timeout.map { .double($0) } ?? .null
        object["pool"] = job.pool.map { .string($0) } ?? .null
        object["source"] = job.location.map { .string($0.description) } ?? .null
        return .object(object)
    }

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
            exceptionTraceback: optional("exception_tb"), node: value["node"]?.stringValue)
    }

    public static func log(_ record: LogRecord) -> JSONValue {
        .object([
            "id": .int(record.id),
            "build_id": .int(record.buildID),
            "created": timestamp(record.created),
            "level": .int(Int64(record.level)),
            "level_name": .string(LogLevel.name(of: record.level)),
            "logger": .string(record.logger),
            "message": .string(record.message),
        ])
    }

    public static func log(from value: JSONValue) throws(VarlinkError) -> LogRecord {
        guard let id = value["id"]?.intValue, let buildID = value["build_id"]?.intValue,
            let level = value["level"]?.intValue
        else { throw .invalidParameter("logs") }
        return LogRecord(
            id: id, buildID: buildID, created: date(value["created"]) ?? Date(timeIntervalSince1970: 0),
            level: Int(level), message: value["message"]?.stringValue ?? "", logger: value["logger"]?.stringValue ?? "")
    }

    public static func prune(_ report: PruneReport, dryRun: Bool) -> [String: JSONValue] {
        [
            "dry_run": .bool(dryRun),
            "log_records": .int(Int64(report.logRecords)),
            "builds": .array(report.builds.values.flatMap { $0 }.sorted().map { .int($0) }),
        ]
    }

    public static func progress(_ info: ProgressInfo) -> JSONValue {
        [
            "group": .string(info.group.name), "current": .int(info.current), "total": .int(info.total),
            "status": info.statusLine.map { .string($0) } ?? .null, "reported": .bool(info.reported),
        ]
    }
}
