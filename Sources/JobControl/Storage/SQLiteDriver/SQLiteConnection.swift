import CSQLite

/// One SQLite connection and its cache of prepared statements.
///
/// Ownership: not thread-safe by itself (opened with `SQLITE_OPEN_NOMUTEX`); whoever holds it
/// uses it from one thread at a time. ``SQLiteDatabase`` gives the writer to one caller at a time
/// under its lock, and each reader to one caller at a time.
public final class SQLiteConnection {
    let handle: OpaquePointer
    public let path: String
    private var statements: [String: SQLiteStatement] = [:]

    /// Opens `path` (`:memory:` for a private in-memory database), creating it unless `readOnly`.
    public init(path: String, readOnly: Bool = false, busyTimeout: Double) throws(SQLiteError) {
        var handle: OpaquePointer?
        let flags =
            (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let code = sqlite3_open_v2(path, &handle, flags, nil)
        guard code == SQLITE_OK, let handle else {
            let error = SQLiteError(code: code, handle: handle, sql: nil)
            sqlite3_close_v2(handle)
            throw error
        }
        self.handle = handle
        self.path = path
        sqlite3_extended_result_codes(handle, 1)
        sqlite3_busy_timeout(handle, Int32(busyTimeout * 1000))
    }

    deinit {
        statements.removeAll()  // finalized before the close
        sqlite3_close_v2(handle)
    }

    /// Runs `sql`: any number of statements without arguments, or one statement with them.
    public func execute(sql: String, arguments: SQLiteArguments = []) throws(SQLiteError) {
        if !arguments.values.isEmpty {
            try prepare(sql: sql).execute(arguments: arguments)
            return
        }
        var failure: SQLiteError?
        sql.withCString { text in
            var rest: UnsafePointer<CChar>? = text
            while let current = rest, current.pointee != 0 {
                var statement: OpaquePointer?
                var tail: UnsafePointer<CChar>?
                let code = sqlite3_prepare_v2(handle, current, -1, &statement, &tail)
                guard code == SQLITE_OK else {
                    failure = SQLiteError(code: code, handle: handle, sql: sql)
                    return
                }
                rest = tail
                guard let statement else { continue }  // only whitespace or a comment was left
                guard sqlite3_bind_parameter_count(statement) == 0 else {
                    sqlite3_finalize(statement)
                    failure = SQLiteError(code: SQLITE_RANGE, message: "a parameter without an argument", sql: sql)
                    return
                }
                var step = sqlite3_step(statement)
                while step == SQLITE_ROW { step = sqlite3_step(statement) }
                if step != SQLITE_DONE {
                    failure = SQLiteError(code: sqlite3_extended_errcode(handle), handle: handle, sql: sql)
                }
                sqlite3_finalize(statement)
                if failure != nil { return }
            }
        }
        if let failure { throw failure }
    }

    /// A new prepared statement of one SQL statement.
    public func prepare(sql: String) throws(SQLiteError) -> SQLiteStatement {
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v3(handle, sql, -1, 0, &statement, nil)
        guard code == SQLITE_OK, let statement else {
            throw SQLiteError(code: code == SQLITE_OK ? SQLITE_MISUSE : code, handle: handle, sql: sql)
        }
        return SQLiteStatement(connection: handle, handle: statement, sql: sql)
    }

    /// The statement for `sql`, prepared once per connection and kept: for the hot paths' fixed SQL.
    public func cachedStatement(sql: String) throws(SQLiteError) -> SQLiteStatement {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard code == SQLITE_OK, let statement else {
            throw SQLiteError(code: code == SQLITE_OK ? SQLITE_MISUSE : code, handle: handle, sql: sql)
        }
        let prepared = SQLiteStatement(connection: handle, handle: statement, sql: sql)
        statements[sql] = prepared
        return prepared
    }

    public func fetchAll(sql: String, arguments: SQLiteArguments = []) throws(SQLiteError) -> [SQLiteRow] {
        try prepare(sql: sql).fetchAll(arguments: arguments)
    }

    public func fetchOne(sql: String, arguments: SQLiteArguments = []) throws(SQLiteError) -> SQLiteRow? {
        try prepare(sql: sql).fetchOne(arguments: arguments)
    }

    public func fetchColumn<T: SQLiteColumnValue>(
        _ type: T.Type = T.self, sql: String, arguments: SQLiteArguments = []
    ) throws(SQLiteError) -> [T] {
        try prepare(sql: sql).fetchColumn(type, arguments: arguments)
    }

    public func fetchValue<T: SQLiteColumnValue>(_ type: T.Type = T.self, sql: String, arguments: SQLiteArguments = [])
        throws(SQLiteError) -> T?
    {
        try prepare(sql: sql).fetchValue(type, arguments: arguments)
    }

    /// Rows the last INSERT, UPDATE or DELETE changed.
    public var changesCount: Int { Int(sqlite3_changes64(handle)) }

    /// The rowid of the last INSERT.
    public var lastInsertedRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Whether a transaction is open (autocommit is off).
    public var isInsideTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    /// Runs `body` in a transaction (`BEGIN IMMEDIATE` when it will write, so the write lock is
    /// taken, or waited for, at the start and never in the middle), committed when it returns and
    /// rolled back when it throws.
    public func inTransaction<T>(immediate: Bool, _ body: (SQLiteConnection) throws -> T) throws -> T {
        // Prepared once per connection: every group commit runs these.
        if isInsideTransaction { try cachedStatement(sql: "ROLLBACK").execute() }
        try cachedStatement(sql: immediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED").execute()
        do {
            let result = try body(self)
            try cachedStatement(sql: "COMMIT").execute()
            return result
        } catch {
            // A failed COMMIT or statement may have rolled back already (SQLITE_FULL does). A
            // ROLLBACK that fails too leaves the transaction open: the next `inTransaction`
            // rolls it back before it begins.
            if isInsideTransaction { try? cachedStatement(sql: "ROLLBACK").execute() }
            throw error
        }
    }
}
