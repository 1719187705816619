import Dispatch
import FoundationEssentials
import Glibc
import Synchronization

/// The cluster's scheduler lock: of the daemons sharing a database, the one holding it runs the
/// schedules; the others wait for it in `pg_advisory_lock`, which returns the moment the holder's
/// session ends (it stopped, crashed, or lost the database), so fail-over takes milliseconds. A holder that hangs with its connection open is handled by the lease: the daemon
/// that recovers it ends that session (``ClusterStore/recoverExpiredNodes(exception:)``).
///
/// Ownership: the connection belongs to the lock's thread; `stopped` is the only shared state.
public final class PostgresSchedulerLock: Sendable {
    private let stopped = Atomic<Bool>(false)

    /// Starts competing for the lock. `onChange(true, backend)` runs when this daemon got it (with
    /// the PostgreSQL backend pid of the session that holds it), `onChange(false, nil)` when it lost
    /// it (the connection broke).
    public init(storage: PostgresStorage, onChange: @escaping @Sendable (Bool, Int32?) -> Void) {
        let url = storage.url, schema = storage.pool.schema
        DedicatedThread.start(name: "jc-pg-schedlock") { [self] in
            self.compete(url: url, schema: schema, onChange: onChange)
        }
    }

    private func compete(url: String, schema: String?, onChange: (Bool, Int32?) -> Void) {
        // Capped low: after the database comes back, the schedules resume within a second.
        var backoff: useconds_t = 100_000
        while !stopped.load(ordering: .relaxed) {
            do {
                let connection = try PostgresConnection(url: url, schema: schema)
                let backend = try connection.execute("SELECT pg_backend_pid() AS pid").rows().first?["pid"].flatMap(
                    Int32.init)
                // Waits until the current holder's session ends, two seconds at a time: a statement
                // that waited for hours would hold back VACUUM (its snapshot pins the xmin horizon).
                try connection.execute("SET lock_timeout = '2s'")
                while true {
                    guard !stopped.load(ordering: .relaxed) else { return }
                    do {
                        try connection.execute(
                            "SELECT pg_advisory_lock(hashtext('jobcontrol-scheduler:' || current_schema()))")
                        break
                    } catch  where error.sqlState == "55P03" {
                        continue  // lock_not_available: still held by another daemon
                    }
                }
                backoff = 100_000
                onChange(true, backend)
                hold(connection)
                onChange(false, nil)
            } catch {
                usleep(backoff)
                backoff = min(backoff * 2, 1_000_000)
            }
        }
    }

    /// Keeps the session (and with it the lock) until it breaks or the daemon stops.
    private func hold(_ connection: PostgresConnection) {
        while !stopped.load(ordering: .relaxed) {
            var descriptor = pollfd(fd: connection.socketDescriptor, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, 1000) > 0, connection.receiveNotifications() == nil { return }
        }
    }

    /// Stops competing; a held lock is released when the process ends or within a second.
    public func stop() {
        stopped.store(true, ordering: .relaxed)
    }
}
