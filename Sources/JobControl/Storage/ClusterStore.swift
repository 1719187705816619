import Dispatch
import FoundationEssentials
import Glibc

/// One daemon of a cluster as the database knows it (the `daemon` table).
public struct ClusterNode: Sendable, Hashable {
    /// The daemon's name in the cluster (`cluster.node`, default the host name): unique, stable
    /// across restarts, so a restarted daemon finds the builds it left.
    public var node: String
    public var host: String
    public var pid: Int32
    public var started: Date
    /// The last heartbeat, by the database's clock.
    public var heartbeat: Date
    /// How long after its last heartbeat the daemon counts as dead and its builds are recovered.
    public var lease: TimeInterval
    /// `alive`, `stopped` (a clean stop) or `lost` (its lease expired; its builds were recovered).
    public var state: String
    public var version: String
    public var workers: Int
    /// Builds running on it now.
    public var running: Int
    /// Seconds since its last heartbeat, by the database's clock (no skew between hosts).
    public var heartbeatAge: TimeInterval
    /// Whether it runs the cluster's schedules (holds the scheduler lock).
    public var schedules: Bool

    public init(
        node: String, host: String, pid: Int32, started: Date, heartbeat: Date, lease: TimeInterval, state: String,
        version: String, workers: Int, running: Int = 0, heartbeatAge: TimeInterval = 0, schedules: Bool = false
    ) {
        self.schedules = schedules
        self.node = node
        self.host = host
        self.pid = pid
        self.started = started
        self.heartbeat = heartbeat
        self.lease = lease
        self.state = state
        self.version = version
        self.workers = workers
        self.running = running
        self.heartbeatAge = heartbeatAge
    }
}

/// What one recovery pass did with the builds of daemons whose lease expired.
public struct ClusterRecovery: Sendable {
    /// The daemons found dead.
    public var nodes: [String] = []
    /// Builds that were running on them, now finished as failed (`DaemonLost`): (id, job id).
    public var failed: [(id: Int64, jobID: String)] = []
    /// Builds they had claimed but not started, back in the shared queue.
    public var released: [Int64] = []
    /// Notifications written for the failed builds (in the same transaction).
    public var notified = 0

    public init() {}
}

/// The builds a daemon's previous run left under its name (it crashed or was killed).
public struct NodeLeftovers: Sendable {
    /// Still marked running: finish as failed, stop their orphaned processes.
    public var running: [UnfinishedBuild] = []
    /// Claimed but never started: back to the shared queue.
    public var claimed: [Int64] = []
    /// Already recovered by other daemons while this one was down, whose processes may still run
    /// on this host: stop them.
    public var recoveredElsewhere: [UnfinishedBuild] = []

    public init() {}
}

/// Storage that several daemons can share (PostgreSQL): who is alive, who runs which build, and
/// how they wake each other. See `docs/cluster.md`.
public protocol ClusterStore: Storage {
    /// Records this daemon as alive under `node` (replacing an earlier run of the same name).
    func registerNode(_ node: ClusterNode) throws(StorageError)

    /// Renews the daemon's lease (and records its worker limit, which a reload may change). False
    /// when the lease was lost: other daemons declared it dead and recovered its builds.
    func heartbeat(node: String, workers: Int) throws(StorageError) -> Bool

    /// Marks the daemon stopped (a clean stop: nothing to recover).
    func markStopped(node: String) throws(StorageError)

    /// Every daemon known to the database, with its running builds.
    func clusterNodes() throws(StorageError) -> [ClusterNode]

    /// Builds waiting in the shared queue (no daemon has claimed them yet).
    func sharedQueueLength() throws(StorageError) -> Int

    /// Takes up to `limit` queued builds nobody has claimed, oldest first, for `node`, except
    /// builds of `jobIDs` (their pool is full on `node`). Each queued build is claimed by exactly
    /// one daemon (row locks, `SKIP LOCKED`).
    func claimQueuedBuilds(node: String, limit: Int, excluding jobIDs: Set<String>) throws(StorageError) -> [Build]

    /// Gives back a build this daemon claimed but did not start.
    func releaseBuild(_ id: Int64, node: String) throws(StorageError)

    /// The builds `node` claimed and has not started.
    func claimedUnstarted(node: String) throws(StorageError) -> [Int64]

    /// Finishes a queued build nobody has claimed with `exception`; false when it was already
    /// claimed (or finished).
    func cancelQueuedBuild(_ id: Int64, exception: JSONValue) throws(StorageError) -> Bool

    /// Recovers the builds of every daemon whose lease expired (by the database's clock): running
    /// ones are finished as failed with `exception`, claimed ones go back to the queue. Several
    /// daemons may run this at once; each dead daemon is recovered by one of them.
    /// `notify` gives, for each build failed (id, job id, config), what its failure tells the
    /// job's rules; those notifications are written in the same transaction.
    func recoverExpiredNodes(
        exception: JSONValue, notify: @Sendable (Int64, String, JSONValue) -> NotificationTrigger?
    ) throws(StorageError) -> ClusterRecovery

    /// The builds an earlier run of `node` left behind.
    func leftovers(node: String) throws(StorageError) -> NodeLeftovers

    /// Forgets a build's process group once its orphans are gone.
    func clearBuildProcess(_ id: Int64) throws(StorageError)

    /// Records that `node` now runs the schedules, through the session with PostgreSQL backend pid
    /// `backend` (nil: it no longer does).
    func setScheduler(node: String, backend: Int32?) throws(StorageError)

    /// Tells every daemon listening (including this one) `message` (`cancel:41`, `suspend:job`).
    func notifyCluster(_ message: String) throws(StorageError)
}

extension ClusterStore {
    /// Recovery that notifies nobody.
    public func recoverExpiredNodes(exception: JSONValue) throws(StorageError) -> ClusterRecovery {
        try recoverExpiredNodes(exception: exception, notify: { _, _, _ in nil })
    }
}
