import Foundation
import GRDB

/// ``Storage`` on SQLite through GRDB.
///
/// Ownership: GRDB's `DatabasePool` owns the connections: one writer connection on its own serial
/// queue and a pool of readers beside it (WAL), so reads never wait for a write. `sqlite::memory:`
/// uses a `DatabaseQueue` (one connection, one serial queue). This type holds no mutable state of
/// its own, so it is `Sendable` as it stands.
public final class SQLiteStorage: Storage {
    let writer: any DatabaseWriter
    /// The database file, or nil in memory; for error messages.
    public let path: String?

    /// Opens (creating if needed) the database at `path`, or an in-memory one when nil.
    public init(path: String?) throws(StorageError) {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.label = "jobcontrol"
        configuration.prepareDatabase { db in
            // WAL with synchronous=NORMAL: a committed transaction survives a crash of the daemon;
            // only a power loss can roll back the last few commits.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            if let path {
                let directory = (path as NSString).deletingLastPathComponent
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
                let pool = try DatabasePool(path: path, configuration: configuration)
                // Touch the file now, so a file that is not a database is reported at start.
                _ = try pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") }
                writer = pool
            } else {
                writer = try DatabaseQueue(configuration: configuration)
            }
        } catch {
            throw StorageError(.cannotOpen, "cannot open database \(path ?? ":memory:"): \(Self.describe(error))")
        }
    }

    public func install() throws(StorageError) {
        do {
            try SQLiteMigrations.migrator.migrate(writer)
        } catch {
            throw Self.wrap(error, .migration, "cannot migrate database \(path ?? ":memory:")")
        }
    }

    public func createBuild(jobID: String, config: JSONValue) throws(StorageError) -> Int64 {
        try write("create a build of '\(jobID)'") { db in
            try db.execute(
                sql: "INSERT INTO build (job_id, config) VALUES (?, ?)", arguments: [jobID, config.jsonText()])
            return db.lastInsertedRowID
        }
    }

    public func getBuild(_ id: Int64) throws(StorageError) -> Build? {
        try read("read build \(id)") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM build WHERE id = ?", arguments: [id]).map(Self.build)
        }
    }

    public func getJobBuilds(jobID: String?, filter: BuildFilter, order: SortOrder, limit: Int) throws(StorageError)
        -> [Build]
    {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let jobID {
            conditions.append("job_id = ?")
            arguments += [jobID]
        }
        for (column, value) in [
            ("started", filter.started), ("finished", filter.finished), ("success", filter.success),
            ("skipped", filter.skipped),
        ] {
            if let value {
                conditions.append("\(column) = ?")
                arguments += [value]
            }
        }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = "SELECT * FROM build \(whereClause) ORDER BY id \(order == .ascending ? "ASC" : "DESC") LIMIT ?"
        arguments += [limit]
        return try read("list builds") { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.build)
        }
    }

    public func getLatestSuccessfulBuild(jobID: String) throws(StorageError) -> Build? {
        try getJobBuilds(jobID: jobID, filter: BuildFilter(finished: true, success: true, skipped: false), order: .descending, limit: 1).first
    }

    public func startBuild(_ id: Int64) throws(StorageError) {
        try write("start build \(id)") { db in
            try db.execute(
                sql: "UPDATE build SET started = 1, start_time = ? WHERE id = ?",
                arguments: [Date().timeIntervalSince1970, id])
            guard db.changesCount == 1 else { throw StorageError(.noSuchBuild, "no build with id \(id)") }
        }
    }

    public func finishBuild(
        _ id: Int64, success: Bool, skipped: Bool, retval: JSONValue?, exception: JSONValue?,
        exceptionTraceback: JSONValue?
    ) throws(StorageError) {
        try write("finish build \(id)") { db in
            try db.execute(
                sql: """
                    UPDATE build SET finished = 1, end_time = ?, success = ?, skipped = ?, retval = ?,
                        exception = ?, exception_tb = ?
                    WHERE id = ?
                    """,
                arguments: [
                    Date().timeIntervalSince1970, success, skipped, retval?.jsonText(), exception?.jsonText(),
                    exceptionTraceback?.jsonText(), id,
                ])
            guard db.changesCount == 1 else { throw StorageError(.noSuchBuild, "no build with id \(id)") }
        }
    }

    public func logMessages(_ records: [LogRecord]) throws(StorageError) {
        guard !records.isEmpty else { return }
        try write("store \(records.count) log records") { db in
            let statement = try db.cachedStatement(
                sql: "INSERT INTO log (build_id, created, level, record, exception_tb) VALUES (?, ?, ?, ?, ?)")
            for record in records {
                try statement.execute(arguments: [
                    record.buildID, record.created.timeIntervalSince1970, record.level, record.recordJSON.jsonText(),
                    record.exceptionTraceback?.jsonText(),
                ])
            }
        }
    }

    public func iterLogMessages(buildID: Int64?, minLevel: Int?, limit: Int?) throws(StorageError) -> [LogRecord] {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let buildID {
            conditions.append("build_id = ?")
            arguments += [buildID]
        }
        if let minLevel {
            conditions.append("level >= ?")
            arguments += [minLevel]
        }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        var sql = "SELECT * FROM log \(whereClause) ORDER BY id ASC"
        if let limit {
            sql += " LIMIT ?"
            arguments += [limit]
        }
        return try read("read log records") { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.logRecord)
        }
    }

    public func failUnfinishedBuilds(reason: BuildException) throws(StorageError) -> [Int64] {
        try write("finish abandoned builds") { db in
            let ids = try Int64.fetchAll(db, sql: "SELECT id FROM build WHERE finished = 0 ORDER BY id")
            try db.execute(
                sql: "UPDATE build SET finished = 1, success = 0, end_time = ?, exception = ? WHERE finished = 0",
                arguments: [Date().timeIntervalSince1970, reason.json.jsonText()])
            return ids
        }
    }

    // MARK: - Rows

    static func build(_ row: Row) throws -> Build {
        Build(
            id: row["id"],
            jobID: row["job_id"],
            startTime: (row["start_time"] as Double?).map(Date.init(timeIntervalSince1970:)),
            endTime: (row["end_time"] as Double?).map(Date.init(timeIntervalSince1970:)),
            started: row["started"],
            finished: row["finished"],
            success: row["success"],
            skipped: row["skipped"],
            config: try json(row["config"]) ?? .object([:]),
            retval: try json(row["retval"]),
            exception: try json(row["exception"]),
            exceptionTraceback: try json(row["exception_tb"]))
    }

    static func logRecord(_ row: Row) throws -> LogRecord {
        let record = try json(row["record"]) ?? .object([:])
        return LogRecord(
            id: row["id"],
            buildID: row["build_id"],
            created: Date(timeIntervalSince1970: row["created"]),
            level: row["level"],
            message: record["message"]?.stringValue ?? "",
            logger: record["logger"]?.stringValue ?? "",
            exceptionTraceback: try json(row["exception_tb"]))
    }

    static func json(_ text: String?) throws -> JSONValue? {
        guard let text else { return nil }
        return try JSONValue.parse(text)
    }

    // MARK: - Errors

    func write<T>(_ what: String, _ body: (Database) throws -> T) throws(StorageError) -> T {
        do {
            return try writer.write(body)
        } catch {
            throw Self.wrap(error, .query, "cannot \(what) in \(path ?? ":memory:")")
        }
    }

    func read<T>(_ what: String, _ body: (Database) throws -> T) throws(StorageError) -> T {
        do {
            return try writer.read(body)
        } catch {
            throw Self.wrap(error, .query, "cannot \(what) in \(path ?? ":memory:")")
        }
    }

    static func wrap(_ error: any Error, _ code: StorageError.Code, _ message: String) -> StorageError {
        if let error = error as? StorageError { return error }
        if let error = error as? DatabaseError {
            return StorageError(code, "\(message): \(error.message ?? "SQLite error \(error.resultCode)")", sql: error.sql)
        }
        return StorageError(code, "\(message): \(describe(error))")
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return error.message ?? "SQLite error \(error.resultCode)"
        }
        return String(describing: error)
    }
}
