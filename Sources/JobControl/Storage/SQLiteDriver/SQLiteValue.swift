/// One value as SQLite stores it: what a statement binds, and what a row holds.
public enum SQLiteValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// A Swift value that can be bound to a statement's parameter.
public protocol SQLiteBindable: Sendable {
    var sqliteValue: SQLiteValue { get }
}

/// A Swift value a column can be read as; nil when the stored value does not convert (NULL, or
/// text where a number was expected).
public protocol SQLiteColumnValue {
    init?(sqliteValue: SQLiteValue)
}

extension Int64: SQLiteBindable, SQLiteColumnValue {
    public var sqliteValue: SQLiteValue { .integer(self) }
    public init?(sqliteValue: SQLiteValue) {
        switch sqliteValue {
        case .integer(let value): self = value
        case .real(let value): self.init(exactly: value)
        default: return nil
        }
    }
}

extension Int: SQLiteBindable, SQLiteColumnValue {
    public var sqliteValue: SQLiteValue { .integer(Int64(self)) }
    public init?(sqliteValue: SQLiteValue) {
        guard let value = Int64(sqliteValue: sqliteValue) else { return nil }
        self.init(value)
    }
}

extension Int32: SQLiteBindable, SQLiteColumnValue {
    public var sqliteValue: SQLiteValue { .integer(Int64(self)) }
    public init?(sqliteValue: SQLiteValue) {
        guard let value = Int64(sqliteValue: sqliteValue) else { return nil }
        self.init(exactly: value)
    }
}

extension Double: SQLiteBindable, SQLiteColumnValue {
    public var sqliteValue: SQLiteValue { .real(self) }
    public init?(sqliteValue: SQLiteValue) {
        switch sqliteValue {
        case .real(let value): self = value
        case .integer(let value): self.init(value)
        default: return nil
        }
    }
}

extension Bool: SQLiteBindable, SQLiteColumnValue {
    public var sqliteValue: SQLiteValue { .integer(self ? 1 : 0) }
    public init?(sqliteValue: SQLiteValue) {
        switch sqliteValue {
        case .integer(let value): self = value != 0
        case .real(let value): self = value != 0
        default: return nil
        }
    }
}

extension String: SQLiteBindable, SQLiteColumnValue {
    public var sqliteValue: SQLiteValue { .text(self) }
    public init?(sqliteValue: SQLiteValue) {
        switch sqliteValue {
        case .text(let value): self = value
        case .blob(let bytes): self.init(decoding: bytes, as: UTF8.self)
        // A number where text was expected reads as SQLite's own text of it would (GRDB read
        // every column through `sqlite3_column_text` when asked for a String).
        case .integer(let value): self = String(value)
        case .real(let value): self = "\(value)"
        case .null: return nil
        }
    }
}

/// A statement's parameters, in order: `[jobID, 3, nil]`.
public struct SQLiteArguments: Sendable, ExpressibleByArrayLiteral {
    public var values: [SQLiteValue]

    public init(_ values: [(any SQLiteBindable)?]) {
        self.values = values.map { $0?.sqliteValue ?? .null }
    }

    public init(arrayLiteral elements: (any SQLiteBindable)?...) {
        self.init(elements)
    }

    public static func += (lhs: inout SQLiteArguments, rhs: SQLiteArguments) {
        lhs.values += rhs.values
    }
}
