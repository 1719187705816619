import CSQLite
import Dispatch
import NIOConcurrencyHelpers

/// A SQLite database: in a file, one writer connection and up to ``maximumReaders`` reader
/// connections beside it in WAL mode, so reads never wait for writes; in memory, one connection
/// for both. Every connection waits up to `busyTimeout` for another process's lock, checks
/// foreign keys, and commits with `synchronous = NORMAL` (a commit survives a crash of the
/// daemon; a power loss can roll back the last few).
///
/// Ownership: `writer` is used only while `writeLock` is held. `idleReaders` is guarded by
/// `readersLock`; a reader taken from it belongs to the one caller that took it until it is put
/// back, and `readerSlots` bounds how many exist.
public final class SQLiteDatabase: @unchecked Sendable {
    public static let maximumReaders = 5

    /// The file, or nil in memory.
    public let path: String?
    private let busyTimeout: Double
    private let writer: SQLiteConnection
    private let writeLock = NIOLock()
    private let readersLock = NIOLock()
    private var idleReaders: [SQLiteConnection] = []
    private let readerSlots = DispatchSemaphore(value: maximumReaders)

    public init(path: String?, busyTimeout: Double) throws(SQLiteError) {
        self.path = path
        self.busyTimeout = busyTimeout
        writer = try SQLiteConnection(path: path ?? ":memory:", busyTimeout: busyTimeout)
        try writer.execute(sql: "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON")
        if path != nil {
            let mode = try writer.fetchValue(String.self, sql: "PRAGMA journal_mode = WAL")
            guard mode?.lowercased() == "wal" else {
                throw SQLiteError(
                    code: SQLITE_ERROR, message: "cannot switch to WAL mode (journal mode \(mode ?? "unknown"))",
                    sql: "PRAGMA journal_mode = WAL")
            }
        }
    }

    deinit {
        readersLock.withLock { idleReaders.removeAll() }  // closed before the writer, which removes the WAL
    }

    /// Runs `body` in a write transaction (`BEGIN IMMEDIATE`), one writer at a time.
    public func write<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        try writeLock.withLock { try writer.inTransaction(immediate: true, body) }
    }

    /// Runs `body` on the writer outside any transaction (migrations open their own).
    public func writeWithoutTransaction<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        try writeLock.withLock { try body(writer) }
    }

    /// Runs `body` in a read transaction: every statement in it sees the same snapshot.
    public func read<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        try withReader { reader in try reader.inTransaction(immediate: false, body) }
    }

    /// Runs `body` without a transaction: for a single statement, which sees one snapshot anyway;
    /// saves a BEGIN and a COMMIT on the hot paths.
    public func unsafeRead<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        try withReader(body)
    }

    private func withReader<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        guard let path else { return try writeLock.withLock { try body(writer) } }
        readerSlots.wait()
        defer { readerSlots.signal() }
        let reader =
            try readersLock.withLock { idleReaders.popLast() }
            ?? SQLiteConnection(path: path, readOnly: true, busyTimeout: busyTimeout)
        defer { readersLock.withLock { idleReaders.append(reader) } }
        return try body(reader)
    }
}
