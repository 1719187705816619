import Dispatch
import FoundationEssentials
import Glibc
import Synchronization

/// The daemon's own PostgreSQL connection for cluster membership: it holds the advisory lock on
/// the daemon's node name (so two daemons cannot run under one name), and it LISTENs on the
/// cluster's channel, handing each notification's payload to `onMessage`.
///
/// Ownership: the connection belongs to the listener's thread, which blocks in poll(2) on its
/// socket; `stopped` is the only state shared with other threads, in an atomic.
public final class PostgresListener: Sendable {
    let url: String
    let schema: String?
    let node: String
    private let stopped = Atomic<Bool>(false)
    private let onMessage: @Sendable (String) -> Void
    private let onReconnect: @Sendable () -> Void
    private let onFatal: @Sendable (StorageError) -> Void

    /// Connects, takes the node's lock and starts listening; fails when another running daemon
    /// already uses `node` on this database. `onReconnect` runs after a lost connection came back
    /// (notifications sent meanwhile are lost: look again); `onFatal` when the node's lock was
    /// taken by another daemon while the connection was down.
    public init(
        storage: PostgresStorage, node: String, onMessage: @escaping @Sendable (String) -> Void,
        onReconnect: @escaping @Sendable () -> Void, onFatal: @escaping @Sendable (StorageError) -> Void
    ) throws(StorageError) {
        url = storage.url
        schema = storage.pool.schema
        self.node = node
        self.onMessage = onMessage
        self.onReconnect = onReconnect
        self.onFatal = onFatal
        let connection = try connect()
        DedicatedThread.start(name: "jc-pg-listener") { [self] in self.loop(connection) }
    }

    /// Ends the thread within a second; the connection closes, and with it the node's lock.
    public func stop() {
        stopped.store(true, ordering: .relaxed)
    }

    private func connect() throws(StorageError) -> PostgresConnection {
        let connection = try PostgresConnection(url: url, schema: schema)
        let taken = try connection.execute(
            "SELECT pg_try_advisory_lock(hashtext('jobcontrol-node:' || current_schema() || ':' || $1)) AS taken",
            [node]
        ).rows().first?["taken"]
        guard taken == "t" else {
            throw StorageError(
                .inUse,
                "another running jobcontrold already uses the node name '\(node)' on this database (\(PostgresConnection.redacted(url))); give each daemon its own name with 'cluster: {node: …}' or --node"
            )
        }
        let channel =
            try connection.execute("SELECT \(PostgresStorage.channelExpression) AS channel").rows().first?["channel"]
            ?? ""
        try connection.execute("LISTEN \"\(channel)\"")
        return connection
    }

    private func loop(_ first: PostgresConnection) {
        var connection: PostgresConnection? = first
        var backoff: useconds_t = 100_000  // capped at 2 s: notifications resume soon after the database
        while !stopped.load(ordering: .relaxed) {
            guard let current = connection else {
                usleep(backoff)
                do {
                    connection = try connect()
                    backoff = 100_000
                    onReconnect()
                } catch  where error.code == .inUse {
                    onFatal(error)
                    return
                } catch {
                    backoff = min(backoff * 2, 2_000_000)
                }
                continue
            }
            var descriptor = pollfd(fd: current.socketDescriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 1000)
            guard ready > 0 else { continue }
            guard let payloads = current.receiveNotifications() else {
                connection = nil  // broken: reconnect (and take the lock again)
                continue
            }
            for payload in payloads { onMessage(payload) }
        }
    }
}
