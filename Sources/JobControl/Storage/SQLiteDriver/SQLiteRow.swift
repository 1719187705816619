/// The column names of a statement's result, shared by all its rows.
public final class SQLiteColumns: Sendable {
    public let names: [String]
    let index: [String: Int]

    init(names: [String]) {
        self.names = names
        // The first of duplicate names wins, as in SQLite's own lookups.
        var index: [String: Int] = [:]
        for (position, name) in names.enumerated() where index[name] == nil { index[name] = position }
        self.index = index
    }
}

/// One row of a result, read by column name: `let id: Int64 = row["id"]`.
public struct SQLiteRow: Sendable {
    public let columns: SQLiteColumns
    public let values: [SQLiteValue]

    /// The value of `column`, or `.null` when the result has no such column.
    public func value(_ column: String) -> SQLiteValue {
        guard let position = columns.index[column] else { return .null }
        return values[position]
    }

    /// The column as `T`, or nil when it is NULL, missing, or does not convert.
    public subscript<T: SQLiteColumnValue>(_ column: String) -> T? {
        T(sqliteValue: value(column))
    }

    /// The column as `T`, for columns the schema declares NOT NULL. A NULL there means the
    /// database was changed behind the daemon's back; that is a programming or schema error, as
    /// GRDB treated it.
    public subscript<T: SQLiteColumnValue>(_ column: String) -> T {
        guard let converted = T(sqliteValue: value(column)) else {
            preconditionFailure("column \(column) holds \(value(column)), not a \(T.self)")
        }
        return converted
    }
}
