/// A WHERE clause built from optional filters: each condition is added only when its value is
/// given, and values are always bound, never interpolated.
struct SQLWhere {
    private var conditions: [String] = []
    private(set) var arguments: SQLiteArguments = []

    /// Adds `condition` (with one `?`) when `value` is not nil.
    mutating func add(_ condition: String, _ value: (any SQLiteBindable)?) {
        guard let value else { return }
        conditions.append(condition)
        arguments += [value]
    }

    /// `WHERE a AND b …`, or nothing.
    var clause: String {
        conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
    }
}
