/// A storage failure, with what was being done, where, and the SQL that failed.
public struct StorageError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        public static let badURL = Code(name: "badURL")
        public static let cannotOpen = Code(name: "cannotOpen")
        public static let migration = Code(name: "migration")
        public static let query = Code(name: "query")
        public static let noSuchBuild = Code(name: "noSuchBuild")
        public static let invalidArgument = Code(name: "invalidArgument")
        /// Something this daemon needs to itself is held by another (a cluster node name).
        public static let inUse = Code(name: "inUse")
        /// The database cannot be reached now (a server restart, a terminated connection, a
        /// network failure); the same request may succeed once it is back.
        public static let unavailable = Code(name: "unavailable")
        /// The disk (or the database's quota) is full; writes succeed again once there is room.
        public static let full = Code(name: "full")
        public var description: String { name }
    }

    public var code: Code
    public var message: String
    /// The statement that failed, when there was one.
    public var sql: String?
    /// PostgreSQL's SQLSTATE of the failure (`55P03`: a lock was not available in time).
    public var sqlState: String?

    public init(_ code: Code, _ message: String, sql: String? = nil, sqlState: String? = nil) {
        self.code = code
        self.message = message
        self.sql = sql
        self.sqlState = sqlState
    }

    public var description: String {
        guard let sql else { return message }
        return "\(message) (SQL: \(sql))"
    }
}
