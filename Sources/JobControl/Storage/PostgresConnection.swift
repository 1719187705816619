import CLibPQ
import Foundation
import Synchronization

/// One libpq connection: parameterized statements in text format, rows as strings.
///
/// Ownership: used by one caller at a time, handed out by ``PostgresPool``.
final class PostgresConnection: @unchecked Sendable {
    // @unchecked: the PGconn pointer is used only by the caller that holds it from the pool.
    private let connection: OpaquePointer

    init(url: String, schema: String?) throws(StorageError) {
        if let problem = jobcontrol_libpq_load() {
            throw StorageError(
                .cannotOpen,
                "PostgreSQL storage needs libpq, which could not be loaded (\(String(cString: problem))); install it (Debian: apt-get install libpq5)")
        }
        guard let connection = PQconnectdb(url) else { throw StorageError(.cannotOpen, "cannot allocate a PostgreSQL connection") }
        self.connection = connection
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(connection)
            throw StorageError(.cannotOpen, "cannot connect to PostgreSQL (\(Self.redacted(url))): \(message) (is the server running, and may this user connect?)")
        }
        // Server notices ("already exists, skipping") are not for the daemon's stderr.
        _ = try execute("SET client_min_messages TO warning")
        if let schema {
            _ = try execute("CREATE SCHEMA IF NOT EXISTS \(schema)")
            _ = try execute("SET search_path TO \(schema)")
        }
    }

    deinit { PQfinish(connection) }

    /// `postgresql://user:secret@host/db` without the password, for messages.
    static func redacted(_ url: String) -> String {
        guard let at = url.firstIndex(of: "@"), let scheme = url.range(of: "://"), let colon = url[scheme.upperBound..<at].firstIndex(of: ":") else {
            return url
        }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }

    struct Rows {
        var columns: [String]
        var values: [[String?]]
        var affected: Int

        func rows() -> [[String: String]] {
            values.map { row in
                var object: [String: String] = [:]
                for (index, value) in row.enumerated() { if let value { object[columns[index]] = value } }
                return object
            }
        }
    }

    /// Runs `sql` with `$1 …` parameters (nil is NULL).
    @discardableResult
    func execute(_ sql: String, _ parameters: [String?] = []) throws(StorageError) -> Rows {
        let cStrings = parameters.map { $0.map { strdup($0) } ?? nil }
        defer { cStrings.forEach { free($0) } }
        let pointers = cStrings.map { UnsafePointer<CChar>($0) }
        guard let result = pointers.withUnsafeBufferPointer({ buffer in
            PQexecParams(connection, sql, Int32(parameters.count), nil, buffer.baseAddress, nil, nil, 0)
        }) else {
            throw StorageError(.query, "PostgreSQL: \(String(cString: PQerrorMessage(connection)))", sql: sql)
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            let message = String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? ""
            if state == "23503" { throw StorageError(.noSuchBuild, "the build does not exist (it may have been deleted)", sql: sql) }
            throw StorageError(.query, "PostgreSQL \(state): \(message)", sql: sql, sqlState: state)
        }
        let columnCount = Int(PQnfields(result))
        let columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
        var values: [[String?]] = []
        for row in 0..<Int(PQntuples(result)) {
            values.append((0..<columnCount).map { column in
                PQgetisnull(result, Int32(row), Int32(column)) == 1 ? nil : String(cString: PQgetvalue(result, Int32(row), Int32(column)))
            })
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return Rows(columns: columns, values: values, affected: affected)
    }

    /// The connection's socket, to wait on for notifications.
    var socketDescriptor: Int32 { PQsocket(connection) }

    /// Reads what the server sent and returns the payloads of the notifications among it; nil
    /// when the connection is broken.
    func receiveNotifications() -> [String]? {
        guard PQconsumeInput(connection) == 1 else { return nil }
        var payloads: [String] = []
        while let notification = PQnotifies(connection) {
            payloads.append(String(cString: notification.pointee.extra))
            PQfreemem(notification)
        }
        return payloads
    }

    /// Runs `body` in a transaction: committed if it returns, rolled back if it throws.
    func transaction<T>(_ body: (PostgresConnection) throws(StorageError) -> T) throws(StorageError) -> T {
        try execute("BEGIN")
        do {
            let value = try body(self)
            try execute("COMMIT")
            return value
        } catch {
            _ = try? execute("ROLLBACK")
            throw error
        }
    }
}

/// A few connections shared by all callers: a caller takes one, uses it, gives it back.
///
/// Ownership: `idle` (connections not in use) is guarded by its mutex; `slots` bounds how many
/// are out at once.
final class PostgresPool: Sendable {
    let url: String
    let schema: String?
    private let idle = Mutex<[PostgresConnection]>([])
    private let slots: DispatchSemaphore

    init(url: String, schema: String?, size: Int = 4) throws(StorageError) {
        self.url = url
        self.schema = schema
        slots = DispatchSemaphore(value: size)
        let first = try PostgresConnection(url: url, schema: schema)  // fail at start, naming the problem
        idle.withLock { $0.append(first) }
    }

    func with<T>(_ body: (PostgresConnection) throws(StorageError) -> T) throws(StorageError) -> T {
        slots.wait()
        defer { slots.signal() }
        let connection: PostgresConnection
        if let reused = idle.withLock({ $0.popLast() }) {
            connection = reused
        } else {
            connection = try PostgresConnection(url: url, schema: schema)
        }
        do {
            let value = try body(connection)
            idle.withLock { $0.append(connection) }
            return value
        } catch {
            // A broken connection is dropped; a query error leaves it usable.
            if error.code != .cannotOpen { idle.withLock { $0.append(connection) } }
            throw error
        }
    }
}
