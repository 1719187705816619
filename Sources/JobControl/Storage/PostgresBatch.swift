import Dispatch
import FoundationEssentials
import Glibc

/// PostgreSQL's group commit (see ``GroupCommitWriter``): what concurrent builds write often,
/// committed together, log lines a thousand rows to an INSERT.
enum PostgresBatch {
    enum Operation: Sendable {
        case log(LogRecord)
        case progress(buildID: Int64, ProgressReport)
        case buildProcess(id: Int64, group: Int32, startTicks: Int64, cgroup: String?)
        case buildUsage(id: Int64, usage: String)
    }

    /// Rows per multi-row INSERT: 5 parameters each, far below the protocol's 65,535.
    static let rowsPerInsert = 1000

    static func make(pool: PostgresPool, health: StorageHealth) -> GroupCommitWriter<Operation> {
        let holding = GroupCommitWriter<Operation>.Holding(
            health: health, hold: GroupCommitWriter<Operation>.defaultHold,
            droppable: { _ in true },  // a process record is only a hint for crash recovery
            logLineBuild: { operation in
                if case .log(let record) = operation { return record.buildID }
                return nil
            })
        return GroupCommitWriter(name: "jc-pg-writer", holding: holding) {
            (operations: [Operation]) throws(StorageError) in
            try pool.with { connection throws(StorageError) in
                try connection.transaction { connection throws(StorageError) in try write(operations, connection) }
            }
        }
    }

    static func write(_ operations: [Operation], _ connection: PostgresConnection) throws(StorageError) {
        var logs: [LogRecord] = []
        // The latest report of each build and group wins (one upsert each; a statement may not
        // update one row twice).
        var progress: [String: (buildID: Int64, report: ProgressReport)] = [:]
        var progressOrder: [String] = []
        for operation in operations {
            switch operation {
            case .log(let record):
                logs.append(record)
            case .progress(let buildID, let report):
                let key = "\(buildID)\u{0}\(report.group.name)"
                if progress.updateValue((buildID, report), forKey: key) == nil { progressOrder.append(key) }
            case .buildProcess(let id, let group, let start, let cgroup):
                try connection.execute(
                    "UPDATE build SET process_group = $1, process_start = $2, cgroup = $3 WHERE id = $4",
                    [String(group), String(start), cgroup, String(id)])
            case .buildUsage(let id, let usage):
                try connection.execute("UPDATE build SET usage = $1 WHERE id = $2", [usage, String(id)])
            }
        }
        var start = 0
        while start < logs.count {
            let chunk = logs[start..<min(start + rowsPerInsert, logs.count)]
            var values: [String] = []
            var parameters: [String?] = []
            for record in chunk {
                let base = parameters.count
                values.append("($\(base + 1), $\(base + 2), $\(base + 3), $\(base + 4), $\(base + 5))")
                parameters += [
                    String(record.buildID), String(record.created.timeIntervalSince1970), String(record.level),
                    Packing.pack(record.recordJSON), record.exceptionTraceback.map(Packing.pack),
                ]
            }
            try connection.execute(
                "INSERT INTO log (build_id, created, level, record, exception_tb) VALUES "
                    + values.joined(separator: ", "), parameters)
            start += rowsPerInsert
        }
        for key in progressOrder {
            guard let (buildID, report) = progress[key] else { continue }
            try connection.execute(
                """
                INSERT INTO build_progress (build_id, group_name, current, total, status_line) VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (build_id, group_name) DO UPDATE SET
                    current = excluded.current, total = excluded.total, status_line = excluded.status_line
                """,
                [String(buildID), report.group.name, String(report.current), String(report.total), report.statusLine])
        }
    }
}
