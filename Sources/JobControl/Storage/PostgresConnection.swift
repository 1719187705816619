import CLibPQ
import Dispatch
import FoundationEssentials
import Glibc
import Logging
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
                "PostgreSQL storage needs libpq, which could not be loaded (\(String(cString: problem))); install it (Debian: apt-get install libpq5)"
            )
        }
        // A server that does not answer at all (a host gone from the network) fails the connect
        // after `connect_timeout`, not after the kernel's TCP timeout of minutes.
        guard let connection = PQconnectdb(Self.withConnectTimeout(url)) else {
            throw StorageError(.cannotOpen, "cannot allocate a PostgreSQL connection")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(connection)).trimmingBlanks(newlines: true)
            // Finished here and only here: `self.connection` is not set yet, so no deinit runs
            // (setting it first made a failed connect free the PGconn twice).
            PQfinish(connection)
            throw StorageError(
                .cannotOpen,
                "cannot connect to PostgreSQL (\(Self.redacted(url))): \(message) (is the server running, and may this user connect?)"
            )
        }
        self.connection = connection
        // Statements are sent without blocking, and their answers awaited with a deadline
        // (``execute(_:_:)``): a server that stops answering (stopped, overloaded, a dropped
        // network path, where a blocking call would wait for ever) is then an outage like any other.
        _ = PQsetnonblocking(connection, 1)
        // libpq prints server notices (a terminated session's FATAL among them) to stderr by
        // default; they go to the log instead, where the error they come with is reported anyway.
        _ = PQsetNoticeProcessor(
            connection,
            { _, message in
                guard let message else { return }
                Logger(label: "jobcontrol.storage").debug(
                    "PostgreSQL: \(String(cString: message).trimmingBlanks(newlines: true))")
            }, nil)
        // Server notices ("already exists, skipping") are not for the daemon's stderr.
        _ = try execute("SET client_min_messages TO warning")
        if let schema {
            _ = try execute("CREATE SCHEMA IF NOT EXISTS \(schema)")
            _ = try execute("SET search_path TO \(schema)")
        }
    }

    deinit { PQfinish(connection) }

    /// How long a statement may wait for the server: past it the connection is given up on and
    /// the storage is unavailable (held writes, `jobctl status` says so), instead of the caller
    /// (and the watchdog's view of a healthy daemon) waiting for ever. Nil: no limit (the
    /// installer, which may wait for another daemon's migration). `JOBCONTROL_POSTGRES_TIMEOUT_SECONDS`
    /// overrides the default of 30 s.
    var statementTimeout: Duration? = PostgresConnection.defaultStatementTimeout

    static let defaultStatementTimeout: Duration = {
        if let text = ProcessInfo.processInfo.environment["JOBCONTROL_POSTGRES_TIMEOUT_SECONDS"],
            let seconds = Double(text), seconds > 0
        {
            return .milliseconds(Int64(seconds * 1000))
        }
        return .seconds(30)
    }()

    /// Set when a statement ran past its deadline or its exchange failed: the connection is in
    /// an unknown state and is never used again.
    private var abandoned = false
    /// The `statement_timeout` of the server's session, in milliseconds (0: none); nil until set.
    /// The server gives up a little before this side does, so a statement this side stopped
    /// waiting for does not commit later anyway (a claim nobody knows of, say).
    private var serverTimeout: Int64?

    private func applyServerTimeout() throws(StorageError) {
        var wanted: Int64 = 0
        if let timeout = statementTimeout {
            let (seconds, attoseconds) = timeout.components
            let milliseconds: Int64 = seconds * 1000 + attoseconds / 1_000_000_000_000_000
            wanted = max(1, milliseconds * 9 / 10)
        }
        guard serverTimeout != wanted else { return }
        serverTimeout = wanted  // first: the statement below comes back here
        do throws(StorageError) {
            _ = try execute("SET statement_timeout = \(wanted)")
        } catch {
            serverTimeout = nil
            throw error
        }
    }

    /// Seconds a connection attempt may take, unless the URL sets `connect_timeout` itself.
    static let connectTimeout = 10

    static func withConnectTimeout(_ url: String) -> String {
        guard !url.contains("connect_timeout") else { return url }
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            return url + (url.contains("?") ? "&" : "?") + "connect_timeout=\(connectTimeout)"
        }
        return url + " connect_timeout=\(connectTimeout)"  // key=value form
    }

    /// Whether the connection is known to be broken: libpq saw it fail, or the server has closed
    /// it or sent something while it sat idle (a terminated backend sends its FATAL error, a
    /// restarting server closes the socket). Checked before a pooled connection is reused, so a
    /// statement is not sent on a connection that is already dead.
    var isBroken: Bool {
        guard !abandoned, PQstatus(connection) == CONNECTION_OK else { return true }
        var descriptor = pollfd(fd: PQsocket(connection), events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, 0) > 0 else { return false }
        // Readable while idle: an error message or EOF (notifications are only LISTENed for on
        // the listener's own connection). Let libpq read it and say.
        return PQconsumeInput(connection) == 0 || PQstatus(connection) != CONNECTION_OK
    }

    /// `postgresql://user:secret@host/db` without the password, for messages.
    static func redacted(_ url: String) -> String {
        guard let at = url.firstIndex(of: "@"), let scheme = url.firstRange(of: "://"),
            let colon = url[scheme.upperBound..<at].firstIndex(of: ":")
        else {
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
        guard !abandoned else { throw StorageError(.unavailable, "PostgreSQL connection given up on", sql: sql) }
        try applyServerTimeout()
        let sent = pointers.withUnsafeBufferPointer { buffer in
            PQsendQueryParams(connection, sql, Int32(parameters.count), nil, buffer.baseAddress, nil, nil, 0)
        }
        guard sent == 1, let result = try awaitResult(sql: sql) else {
            throw StorageError(
                PQstatus(connection) == CONNECTION_OK && !abandoned ? .query : .unavailable,
                "PostgreSQL: \(String(cString: PQerrorMessage(connection)))", sql: sql)
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            let message = String(cString: PQresultErrorMessage(result)).trimmingBlanks(newlines: true)
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? ""
            // The connection broke under the statement (or the server is shutting down: class 57P,
            // 08 connection exceptions): the database is unavailable, not the statement wrong.
            if PQstatus(connection) != CONNECTION_OK || state.hasPrefix("08") || state.hasPrefix("57P") {
                throw StorageError(.unavailable, "PostgreSQL connection lost: \(message)", sql: sql, sqlState: state)
            }
            // Insufficient resources (class 53: disk full, out of memory, too many connections)
            // and a server that became read-only (a standby after a fail-over) pass: held, not refused.
            if state.hasPrefix("53") {
                throw StorageError(.full, "PostgreSQL \(state): \(message)", sql: sql, sqlState: state)
            }
            // The server's statement_timeout (set a little below this side's deadline): overloaded.
            if state == "57014" {
                throw StorageError(
                    .unavailable, "PostgreSQL cancelled the statement after its timeout (\(message))", sql: sql,
                    sqlState: state)
            }
            if state == "25006" {
                throw StorageError(
                    .unavailable, "PostgreSQL is read-only (\(state)): \(message)", sql: sql, sqlState: state)
            }
            if state == "23503" {
                throw StorageError(.noSuchBuild, "the build does not exist (it may have been deleted)", sql: sql)
            }
            throw StorageError(.query, "PostgreSQL \(state): \(message)", sql: sql, sqlState: state)
        }
        let columnCount = Int(PQnfields(result))
        let columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
        var values: [[String?]] = []
        for row in 0..<Int(PQntuples(result)) {
            values.append(
                (0..<columnCount).map { column in
                    PQgetisnull(result, Int32(row), Int32(column)) == 1
                        ? nil : String(cString: PQgetvalue(result, Int32(row), Int32(column)))
                })
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return Rows(columns: columns, values: values, affected: affected)
    }

    /// Sends what is still buffered and waits for the statement's results, within
    /// ``statementTimeout``; returns the last result (nil when there was none).
    private func awaitResult(sql: String) throws(StorageError) -> OpaquePointer? {
        let deadline = statementTimeout.map { ContinuousClock.now + $0 }
        /// Waits for the socket to be ready for `events`, or throws at the deadline.
        func wait(for events: Int32) throws(StorageError) {
            var descriptor = pollfd(fd: PQsocket(connection), events: Int16(events), revents: 0)
            while true {
                var milliseconds: Int32 = -1
                if let deadline {
                    let left = deadline - ContinuousClock.now
                    guard left > .zero else {
                        abandoned = true
                        throw StorageError(
                            .unavailable,
                            "PostgreSQL did not answer within \(statementTimeout!) (the server is stopped, overloaded or unreachable)",
                            sql: sql)
                    }
                    milliseconds = Int32(
                        clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
                            + 1)
                }
                let ready = poll(&descriptor, 1, milliseconds)
                if ready > 0 || (ready < 0 && errno != EINTR) { return }
            }
        }
        // The statement may not all be sent yet (nonblocking): flush, reading meanwhile.
        while true {
            let flushed = PQflush(connection)
            if flushed == 0 { break }
            if flushed < 0 {
                abandoned = true
                return nil
            }
            try wait(for: Int32(POLLIN | POLLOUT))
            if PQconsumeInput(connection) == 0 {
                abandoned = true
                return nil
            }
        }
        var last: OpaquePointer?
        while true {
            while PQisBusy(connection) == 1 {
                try wait(for: Int32(POLLIN))
                if PQconsumeInput(connection) == 0 {
                    if let last { PQclear(last) }
                    abandoned = true
                    return nil
                }
            }
            guard let next = PQgetResult(connection) else { return last }
            if let last { PQclear(last) }
            last = next
        }
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
/// A connection that broke is dropped and the next caller opens a new one, so the pool comes
/// back by itself after a server restart or `pg_terminate_backend`. A statement that failed
/// because its connection broke is retried on a new connection only when that is safe
/// (``with(retryingReads:_:)``): a write may have committed before the connection broke, and
/// is never repeated blindly.
///
/// Ownership: `idle` (connections not in use) is guarded by its mutex; `slots` bounds how many
/// are out at once.
public final class PostgresPool: Sendable {
    let url: String
    let schema: String?
    private let idle = Mutex<[PostgresConnection]>([])
    private let slots: DispatchSemaphore
    /// Told of every connection failure and of the success that ends one.
    let health: StorageHealth?

    /// How long each statement on the pool's connections may wait for the server.
    let statementTimeout: Duration?

    init(
        url: String, schema: String?, size: Int = 4, health: StorageHealth? = nil,
        statementTimeout: Duration? = PostgresConnection.defaultStatementTimeout
    ) throws(StorageError) {
        self.url = url
        self.schema = schema
        self.health = health
        self.statementTimeout = statementTimeout
        slots = DispatchSemaphore(value: size)
        let first = try PostgresConnection(url: url, schema: schema)  // fail at start, naming the problem
        idle.withLock { $0.append(first) }
    }

    /// A healthy idle connection, or a new one; broken idle ones are closed on the way.
    private func take() throws(StorageError) -> PostgresConnection {
        while let reused = idle.withLock({ $0.popLast() }) {
            if !reused.isBroken {
                reused.statementTimeout = statementTimeout
                return reused
            }
        }
        do {
            let connection = try PostgresConnection(url: url, schema: schema)
            connection.statementTimeout = statementTimeout
            return connection
        } catch {
            throw StorageError(.unavailable, error.message)
        }
    }

    /// Runs `body` on a connection of the pool. With `retryingReads`, `body` only reads (or is
    /// otherwise safe to run twice), and runs once more on a new connection if its connection
    /// broke under it.
    func with<T>(retryingReads: Bool = false, _ body: (PostgresConnection) throws(StorageError) -> T)
        throws(StorageError) -> T
    {
        health?.callStarted()
        defer { health?.callEnded() }
        slots.wait()
        defer { slots.signal() }
        var attempt = 0
        while true {
            attempt += 1
            let connection: PostgresConnection
            do {
                connection = try take()
            } catch {
                health?.failed(error)
                throw error
            }
            do {
                let value = try body(connection)
                idle.withLock { $0.append(connection) }
                health?.succeeded()
                return value
            } catch {
                health?.failed(error)
                // A broken connection is dropped; a query error leaves it usable.
                if error.code == .unavailable {
                    if retryingReads && attempt == 1 { continue }
                } else {
                    idle.withLock { $0.append(connection) }
                }
                throw error
            }
        }
    }
}
