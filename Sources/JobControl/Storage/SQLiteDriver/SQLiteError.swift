import CSQLite

/// A failed SQLite call: its extended result code, SQLite's message, and the statement.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    /// The extended result code (`sqlite3_extended_result_codes` is on for every connection).
    public let extendedCode: Int32
    public let message: String
    public let sql: String?

    /// The primary result code (`SQLITE_FULL`, `SQLITE_BUSY`, …).
    public var code: Int32 { extendedCode & 0xff }

    /// `SQLITE_CONSTRAINT_FOREIGNKEY`, which the C header defines as an expression Swift does
    /// not import.
    public static let constraintForeignKey: Int32 = SQLITE_CONSTRAINT | (3 << 8)

    init(code: Int32, message: String, sql: String?) {
        self.extendedCode = code
        self.message = message
        self.sql = sql
    }

    /// The error of the last call on `handle`.
    init(code: Int32, handle: OpaquePointer?, sql: String?) {
        let message = handle.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) }
        self.init(code: code, message: message ?? String(cString: sqlite3_errstr(code)), sql: sql)
    }

    public var description: String { message }
}
