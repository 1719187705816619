import CSQLite

/// A prepared statement of one ``SQLiteConnection``, used only by that connection's owner.
public final class SQLiteStatement {
    let handle: OpaquePointer
    public let sql: String
    private let connection: OpaquePointer
    private var columns: SQLiteColumns?

    init(connection: OpaquePointer, handle: OpaquePointer, sql: String) {
        self.connection = connection
        self.handle = handle
        self.sql = sql
    }

    deinit { sqlite3_finalize(handle) }

    /// Runs the statement to its end with `arguments`, discarding rows.
    public func execute(arguments: SQLiteArguments = []) throws(SQLiteError) {
        try bind(arguments)
        defer { sqlite3_reset(handle) }
        while try step() {}
    }

    public func fetchAll(arguments: SQLiteArguments = []) throws(SQLiteError) -> [SQLiteRow] {
        try bind(arguments)
        defer { sqlite3_reset(handle) }
        var rows: [SQLiteRow] = []
        while try step() { rows.append(row()) }
        return rows
    }

    public func fetchOne(arguments: SQLiteArguments = []) throws(SQLiteError) -> SQLiteRow? {
        try bind(arguments)
        defer { sqlite3_reset(handle) }
        return try step() ? row() : nil
    }

    /// The first column of every row, as `T`; rows where it does not convert are skipped.
    public func fetchColumn<T: SQLiteColumnValue>(_ type: T.Type = T.self, arguments: SQLiteArguments = [])
        throws(SQLiteError) -> [T]
    {
        try bind(arguments)
        defer { sqlite3_reset(handle) }
        var values: [T] = []
        while try step() {
            if let value = T(sqliteValue: value(at: 0)) { values.append(value) }
        }
        return values
    }

    /// The first column of the first row as `T`; nil when there is no row or it is NULL.
    public func fetchValue<T: SQLiteColumnValue>(_ type: T.Type = T.self, arguments: SQLiteArguments = [])
        throws(SQLiteError) -> T?
    {
        try bind(arguments)
        defer { sqlite3_reset(handle) }
        guard try step() else { return nil }
        return T(sqliteValue: value(at: 0))
    }

    // MARK: - Steps

    private func bind(_ arguments: SQLiteArguments) throws(SQLiteError) {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        columns = nil  // `SELECT *` may have new columns once the schema changed
        let expected = Int(sqlite3_bind_parameter_count(handle))
        guard arguments.values.count == expected else {
            throw SQLiteError(
                code: SQLITE_RANGE, message: "\(arguments.values.count) arguments for \(expected) parameters",
                sql: sql)
        }
        for (offset, value) in arguments.values.enumerated() {
            let position = Int32(offset + 1)
            let code: Int32
            switch value {
            case .null: code = sqlite3_bind_null(handle, position)
            case .integer(let number): code = sqlite3_bind_int64(handle, position, number)
            case .real(let number): code = sqlite3_bind_double(handle, position, number)
            case .text(var text):
                code = text.withUTF8 { bytes in
                    // An empty buffer may have no address, which SQLite would bind as NULL.
                    guard let base = bytes.baseAddress, bytes.count > 0 else {
                        return sqlite3_bind_text(handle, position, "", 0, sqliteTransient)
                    }
                    return base.withMemoryRebound(to: CChar.self, capacity: bytes.count) { characters in
                        sqlite3_bind_text(handle, position, characters, Int32(bytes.count), sqliteTransient)
                    }
                }
            case .blob(let bytes):
                code = bytes.withUnsafeBytes { buffer in
                    sqlite3_bind_blob(handle, position, buffer.baseAddress, Int32(buffer.count), sqliteTransient)
                }
            }
            guard code == SQLITE_OK else { throw SQLiteError(code: code, handle: connection, sql: sql) }
        }
    }

    /// One step: true with a row ready, false when done.
    private func step() throws(SQLiteError) -> Bool {
        let code = sqlite3_step(handle)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw SQLiteError(code: sqlite3_extended_errcode(connection), handle: connection, sql: sql)
        }
    }

    private func row() -> SQLiteRow {
        let count = Int(sqlite3_column_count(handle))
        let columns =
            self.columns
            ?? SQLiteColumns(names: (0..<count).map { String(cString: sqlite3_column_name(handle, Int32($0))) })
        self.columns = columns
        return SQLiteRow(columns: columns, values: (0..<count).map { value(at: Int32($0)) })
    }

    private func value(at column: Int32) -> SQLiteValue {
        switch sqlite3_column_type(handle, column) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(handle, column))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(handle, column))
        case SQLITE_TEXT:
            let count = Int(sqlite3_column_bytes(handle, column))
            guard let text = sqlite3_column_text(handle, column) else { return .text("") }
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(handle, column))
            guard let bytes = sqlite3_column_blob(handle, column) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: bytes, count: count)))
        default: return .null
        }
    }
}

/// `SQLITE_TRANSIENT`: SQLite copies the bound bytes (the header's cast of -1 is not imported).
let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
