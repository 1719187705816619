import CSQLite
import Dispatch
import FoundationEssentials
import Glibc

/// ``Storage`` on SQLite, through its C API (``SQLiteDatabase``).
///
/// Ownership: `writer` owns the connections: one writer connection, used under its lock, and a
/// pool of readers beside it (WAL), so reads never wait for writes; `sqlite::memory:` has one
/// connection for both. Log and progress writes and build state changes go through `batchWriter`
/// (group commit, see ``SQLiteBatchWriter``); other writes each take their own transaction. This
/// class has no mutable state of its own.
public final class SQLiteStorage: Storage {
    let writer: SQLiteDatabase
    let batchWriter: GroupCommitWriter<SQLiteBatchWriter.Operation>
    public let health = StorageHealth()
    /// The database file, or nil in memory; for error messages.
    public let path: String?

    /// The database file's device and inode when it was opened (see ``checkFile()``).
    let identity: [UInt64]?

    static func fileIdentity(_ path: String) -> [UInt64]? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return [UInt64(info.st_dev), UInt64(info.st_ino)]
    }

    /// Whether the file at the database's path (and its WAL beside it) is still the one this
    /// storage writes: one deleted or replaced under a running daemon (`rm`, a backup restored
    /// with `mv`) made its writes vanish at the next start, or its WAL be applied to the new
    /// file. Reported as an outage that lasts until a restart (`jobctl status`), logged critical.
    public func checkFile() {
        guard let path, let identity else { return }
        let now = Self.fileIdentity(path)
        if now == nil {
            health.fileLost(
                "the database file \(path) was deleted while jobcontrold ran: what it records now is lost when it stops; restore the file or restart jobcontrold"
            )
        } else if now != identity {
            health.fileLost(
                "the database file \(path) was replaced while jobcontrold ran: it still writes to the file it opened; restart jobcontrold to use the new one"
            )
        } else if access(path + "-wal", F_OK) != 0 {
            health.fileLost(
                "the database's write-ahead log \(path)-wal was deleted while jobcontrold ran: what it held is lost, and what it records now is lost when it stops; restart jobcontrold"
            )
        }
    }

    /// Seconds a write waits for another process's lock before failing.
    public static let busyTimeout: TimeInterval = 10

    /// Opens (creating if needed) the database at `path`, or an in-memory one when nil.
    /// A file that is not an SQLite database, or is damaged, is refused here, naming the path.
    public init(path: String?) throws(StorageError) {
        self.path = path
        let name = path ?? ":memory:"
        let writer: SQLiteDatabase
        do {
            if let path {
                let directory = path.parentPath
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
            }
            writer = try SQLiteDatabase(path: path, busyTimeout: Self.busyTimeout)
            // Read the schema now, so a file that is not a database fails at start.
            _ = try writer.read { db in try db.fetchValue(Int.self, sql: "SELECT count(*) FROM sqlite_master") }
        } catch {
            throw StorageError(.cannotOpen, "cannot open database \(name): \(Self.describe(error))")
        }
        self.writer = writer
        identity = path.flatMap(Self.fileIdentity)
        // Space for builds' ends on a full disk (not for an in-memory database).
        let reserve = path.map(StorageReserve.init(databasePath:))
        self.batchWriter = SQLiteBatchWriter.make(writer: writer, health: health, reserve: reserve) { error in
            Self.wrap(error, .query, "cannot write builds, log lines or progress to \(name)")
        }
    }

    public func install() throws(StorageError) {
        do {
            try SQLiteMigrations.migrator.migrate(writer)
        } catch {
            throw Self.wrap(error, .migration, "cannot create or upgrade the schema of \(path ?? ":memory:")")
        }
    }

    public func uninstall() throws(StorageError) {
        try write("drop the schema") { db in
            for table in SQLiteMigrations.tables { try db.execute(sql: "DROP TABLE IF EXISTS \(table)") }
        }
    }

    /// `PRAGMA integrity_check`: "ok", or what is wrong.
    public func integrityCheck() throws(StorageError) -> String {
        try read("check integrity") { db in
            try db.fetchColumn(String.self, sql: "PRAGMA integrity_check").joined(separator: "; ")
        }
    }

    // MARK: - Rows

    static func build(_ row: SQLiteRow) throws -> Build {
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
            exceptionTraceback: try json(row["exception_tb"]),
            usage: try json(row["usage"]).flatMap(ResourceUsage.init(json:)))
    }

    static func logRecord(_ row: SQLiteRow) throws -> LogRecord {
        let record = try json(row["record"]) ?? .object([:])
        return LogRecord(
            id: row["id"],
            buildID: row["build_id"],
            created: Date(timeIntervalSince1970: row["created"]),
            level: row["level"],
            message: record["message"]?.stringValue ?? "",
            logger: record["logger"]?.stringValue ?? "",
            exceptionTraceback: try json(row["exception_tb"]), partial: record["partial"]?.boolValue ?? false,
            origin: LogRecord.origin(inRecord: record))
    }

    static func json(_ text: String?) throws -> JSONValue? {
        guard let text else { return nil }
        return try Packing.unpack(text)
    }

    // MARK: - Errors

    /// A write of its own (a build's creation, its start): a failure that may pass (a full disk)
    /// is an outage `jobctl status` shows, as the group-commit writer's are, until a write of
    /// its own or the writer's next commit succeeds.
    func write<T>(_ what: String, _ body: (SQLiteConnection) throws -> T) throws(StorageError) -> T {
        do {
            let result = try writer.write(body)
            health.directWriteSucceeded()
            return result
        } catch {
            let wrapped = Self.wrap(error, .query, "cannot \(what) in \(path ?? ":memory:")")
            health.failed(wrapped, direct: true)
            throw wrapped
        }
    }

    /// A read of one statement: no transaction around it (a single statement sees one snapshot
    /// anyway), which saves a BEGIN and a COMMIT on the hot paths.
    func readStatement<T>(_ what: String, _ body: (SQLiteConnection) throws -> T) throws(StorageError) -> T {
        do {
            return try writer.unsafeRead(body)
        } catch {
            throw Self.wrap(error, .query, "cannot \(what) in \(path ?? ":memory:")")
        }
    }

    func read<T>(_ what: String, _ body: (SQLiteConnection) throws -> T) throws(StorageError) -> T {
        do {
            return try writer.read(body)
        } catch {
            throw Self.wrap(error, .query, "cannot \(what) in \(path ?? ":memory:")")
        }
    }

    static func wrap(_ error: any Error, _ code: StorageError.Code, _ message: String) -> StorageError {
        if let error = error as? StorageError { return error }
        if let error = error as? SQLiteError {
            if error.extendedCode == SQLiteError.constraintForeignKey {
                return StorageError(
                    .noSuchBuild, "\(message): the build does not exist (it may have been deleted)", sql: error.sql)
            }
            // A full disk passes once there is room again: the writes are held, not refused.
            let passing = error.code == SQLITE_FULL
            return StorageError(passing ? .full : code, "\(message): \(describe(error))", sql: error.sql)
        }
        return StorageError(code, "\(message): \(describe(error))")
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? SQLiteError {
            var text = error.message
            switch error.code {
            case SQLITE_NOTADB: text += " (the file is not an SQLite database; check the storage URL)"
            case SQLITE_CORRUPT: text += " (the database is damaged; restore it from a backup)"
            case SQLITE_FULL: text += " (free space on that file system; writes resume by themselves)"
            case SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_PERM:
                text += " (check that the daemon's user may write the file and its directory)"
            default: break
            }
            return text
        }
        return fileErrorText(error)
    }
}
