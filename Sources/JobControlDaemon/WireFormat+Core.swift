import JobControl
import JobControlProtocol

// Core types on the wire (jobs, prune reports, progress). They live with the daemon, the one
// side that has them: the protocol module stays a leaf that jobctl can link without the core.
extension WireFormat {
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
        object["resources"] = .object(
            Dictionary(
                job.resources.configured.map { ($0.key, JSONValue.string($0.value)) }, uniquingKeysWith: { a, _ in a }))
        if let python = job.python {
            object["python"] = [
                "interpreter": .string(python.interpreter), "module": .string(python.module),
                "callable": .string(python.callable), "path": .array(python.path.map { .string($0) }),
            ]
        }
        if !job.parameters.isEmpty { object["parameters"] = .array(job.parameters.map(\.json)) }
        if let given = job.schedule?.scheduleParameters, given.contains(where: { !$0.isEmpty }) {
            object["schedule_parameters"] = .array(given.map { .object(job.maskedParameterValues($0)) })
        }
        object["source"] = job.location.map { .string($0.description) } ?? .null
        return .object(object)
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
