import Dispatch
import FoundationEssentials
import Glibc

/// SQLite's group commit (see ``GroupCommitWriter``): log records, progress reports and build
/// state changes from concurrent builds share transactions.
enum SQLiteBatchWriter {
    enum Operation {
        case log(LogRecord)
        case progress(buildID: Int64, ProgressReport)
        /// Build state changes ride the same transactions, after every write handed in before
        /// them: one commit for a build's last lines and its end, shared with concurrent builds.
        case startBuild(id: Int64, time: Double)
        /// `notify`: the notifications the end causes, written in the same transaction.
        case finishBuild(
            id: Int64, time: Double, success: Bool, skipped: Bool, retval: String?, exception: String?,
            traceback: String?, notify: NotificationTrigger?)
        case buildProcess(id: Int64, group: Int32, startTicks: Int64, cgroup: String?)
        case buildUsage(id: Int64, usage: String)
    }

    /// The group-commit queue of a SQLite database: operations of concurrent callers share
    /// transactions on `writer`.
    static func make(
        writer: SQLiteDatabase, health: StorageHealth, reserve: StorageReserve?,
        describe: @escaping @Sendable (any Error) -> StorageError
    )
        -> GroupCommitWriter<Operation>
    {
        var holding = GroupCommitWriter<Operation>.Holding(
            health: health, hold: GroupCommitWriter<Operation>.defaultHold,
            droppable: { operation in
                switch operation {
                // A process record is a hint for crash recovery; a build's start and end are
                // only ever submitted by a waiting caller, which is failed at once, never held.
                case .log, .progress, .buildProcess, .buildUsage: return true
                case .startBuild, .finishBuild: return false
                }
            },
            logLineBuild: { operation in
                if case .log(let record) = operation { return record.buildID }
                return nil
            })
        if let reserve {
            holding.releaseReserve = { reserve.release() }
            holding.restoreReserve = { reserve.create() }
        }
        return GroupCommitWriter(name: "jc-sqlite-write", holding: holding) {
            (operations: [Operation]) throws(StorageError) in
            do {
                try writer.write { db in try apply(operations, db) }
            } catch {
                throw describe(error)
            }
        }
    }

    static func apply(_ operations: [Operation], _ db: SQLiteConnection) throws {
        for operation in operations {
            switch operation {
            case .log(let record):
                try db.cachedStatement(sql: SQLiteQueries.insertLog).execute(arguments: [
                    record.buildID, record.created.timeIntervalSince1970, record.level,
                    Packing.pack(record.recordJSON), record.exceptionTraceback.map(Packing.pack),
                ])
            case .progress(let buildID, let report):
                try db.cachedStatement(sql: SQLiteQueries.upsertProgress).execute(arguments: [
                    buildID, report.group.name, report.current, report.total, report.statusLine,
                ])
            case .startBuild(let id, let time):
                try db.cachedStatement(sql: SQLiteQueries.startBuild).execute(arguments: [time, id])
                guard db.changesCount == 1 else { throw StorageError(.noSuchBuild, "no build with id \(id)") }
            case .finishBuild(
                let id, let time, let success, let skipped, let retval, let exception, let traceback, let notify):
                try db.cachedStatement(sql: SQLiteQueries.finishBuild).execute(arguments: [
                    time, success, skipped, retval, exception, traceback, id,
                ])
                guard db.changesCount == 1 else { throw StorageError(.noSuchBuild, "no build with id \(id)") }
                if let notify { _ = try SQLiteOutbox.record(notify, db) }
            case .buildProcess(let id, let group, let start, let cgroup):
                try db.cachedStatement(
                    sql: "UPDATE build SET process_group = ?, process_start = ?, cgroup = ? WHERE id = ?"
                )
                .execute(arguments: [group, start, cgroup, id])
            case .buildUsage(let id, let usage):
                try db.cachedStatement(sql: "UPDATE build SET usage = ? WHERE id = ?").execute(arguments: [usage, id])
            }
        }
    }
}
