import Dispatch
import FoundationEssentials
import Glibc

/// Several daemons on one PostgreSQL database: the `daemon` table (who is alive, by heartbeat),
/// `build.owner` (which daemon claimed a build), and notifications on one channel per schema.
/// Every time comparison uses the database's clock, so hosts with skewed clocks agree.
extension PostgresStorage: ClusterStore {
    /// The database's clock in seconds since the epoch.
    static let databaseNow = "extract(epoch from clock_timestamp())"

    /// The channel every daemon of this schema listens on. Notification channels are database-wide,
    /// so the schema's name (hashed, to fit the 63-byte limit) keeps clusters in one database apart.
    static let channelExpression = "'jobcontrol_' || substr(md5(current_schema()), 1, 16)"

    static let clusterMigration: [String] = [
        "ALTER TABLE build ADD COLUMN owner TEXT, ADD COLUMN claimed DOUBLE PRECISION, ADD COLUMN lost BOOLEAN NOT NULL DEFAULT false",
        "CREATE INDEX build_queue ON build (id) WHERE NOT finished AND owner IS NULL",
        "CREATE INDEX build_owner ON build (owner) WHERE owner IS NOT NULL AND (NOT finished OR process_group IS NOT NULL)",
        """
        CREATE TABLE daemon (
            node TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, started DOUBLE PRECISION NOT NULL,
            heartbeat DOUBLE PRECISION NOT NULL, lease DOUBLE PRECISION NOT NULL, state TEXT NOT NULL,
            version TEXT NOT NULL, workers INTEGER NOT NULL)
        """,
        // Every way a build is queued or ends (a daemon, a recovery, a cancel) wakes the others.
        """
        CREATE OR REPLACE FUNCTION jobcontrol_build_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE channel TEXT := 'jobcontrol_' || substr(md5(TG_TABLE_SCHEMA), 1, 16);
        BEGIN
            IF TG_OP = 'INSERT' THEN
                PERFORM pg_notify(channel, 'queued:' || NEW.id);
            ELSIF NEW.finished AND NOT OLD.finished THEN
                PERFORM pg_notify(channel, 'finished:' || NEW.id);
            ELSIF NEW.owner IS NULL AND OLD.owner IS NOT NULL AND NOT NEW.finished THEN
                PERFORM pg_notify(channel, 'queued:' || NEW.id);
            END IF;
            RETURN NULL;
        END $$
        """,
        "CREATE TRIGGER build_notify AFTER INSERT OR UPDATE OF finished, owner ON build FOR EACH ROW EXECUTE FUNCTION jobcontrol_build_notify()",
    ]

    public func registerNode(_ node: ClusterNode) throws(StorageError) {
        try update(
            """
            INSERT INTO daemon (node, host, pid, started, heartbeat, lease, state, version, workers)
            VALUES ($1, $2, $3, \(Self.databaseNow), \(Self.databaseNow), $4, 'alive', $5, $6)
            ON CONFLICT (node) DO UPDATE SET host = excluded.host, pid = excluded.pid, started = excluded.started,
                heartbeat = excluded.heartbeat, lease = excluded.lease, state = 'alive', version = excluded.version,
                workers = excluded.workers
            """,
            [node.node, node.host, String(node.pid), String(node.lease), node.version, String(node.workers)])
    }

    /// Renews the node's lease; false when the node is no longer `alive` (the others declared it
    /// lost). With `pool`, on that pool's connection instead of the shared one: the heartbeat
    /// must not wait behind claims and queries for a free connection.
    public func heartbeat(node: String, workers: Int) throws(StorageError) -> Bool {
        try heartbeat(node: node, workers: workers, pool: pool)
    }

    public func heartbeat(node: String, workers: Int, pool: PostgresPool) throws(StorageError) -> Bool {
        try pool.with { connection throws(StorageError) in
            try connection.execute(
                "UPDATE daemon SET heartbeat = \(Self.databaseNow), workers = $2 WHERE node = $1 AND state = 'alive'",
                [node, String(workers)]
            ).affected == 1
        }
    }

    /// A pool of one connection of this database, for a caller that must not share (the heartbeat).
    /// A pool of one connection of its own (the heartbeat's), whose statements wait at most
    /// `statementTimeout`.
    func dedicatedPool(statementTimeout: Duration? = PostgresConnection.defaultStatementTimeout)
        throws(StorageError) -> PostgresPool
    {
        try PostgresPool(url: url, schema: pool.schema, size: 1, health: health, statementTimeout: statementTimeout)
    }

    public func markStopped(node: String) throws(StorageError) {
        try update(
            "UPDATE daemon SET state = 'stopped', heartbeat = \(Self.databaseNow) WHERE node = $1 AND state = 'alive'",
            [node])
    }

    public func clusterNodes() throws(StorageError) -> [ClusterNode] {
        try query(
            """
            SELECT daemon.*, \(Self.databaseNow) - heartbeat AS age,
                (SELECT count(*) FROM build WHERE owner = daemon.node AND started AND NOT finished) AS running
            FROM daemon ORDER BY node
            """
        ).map { row in
            ClusterNode(
                node: row["node"] ?? "", host: row["host"] ?? "", pid: Int32(row["pid"] ?? "") ?? 0,
                started: Date(timeIntervalSince1970: Double(row["started"] ?? "") ?? 0),
                heartbeat: Date(timeIntervalSince1970: Double(row["heartbeat"] ?? "") ?? 0),
                lease: Double(row["lease"] ?? "") ?? 0, state: row["state"] ?? "", version: row["version"] ?? "",
                workers: Int(row["workers"] ?? "") ?? 0, running: Int(row["running"] ?? "") ?? 0,
                heartbeatAge: Double(row["age"] ?? "") ?? 0,
                schedules: row["scheduler_backend"] != nil && row["state"] == "alive")
        }
    }

    public func sharedQueueLength() throws(StorageError) -> Int {
        Int(try query("SELECT count(*) AS n FROM build WHERE NOT finished AND owner IS NULL").first?["n"] ?? "0") ?? 0
    }

    public func claimQueuedBuilds(node: String, limit: Int, excluding jobIDs: Set<String> = [])
        throws(StorageError) -> [Build]
    {
        guard limit > 0 else { return [] }
        // `$3`: a PostgreSQL text array literal of the jobs this daemon cannot start now (their
        // pool is full here), left for the others instead of piling up in this daemon's queue.
        let excluded = "{" + jobIDs.sorted().map { "\"\($0)\"" }.joined(separator: ",") + "}"
        return try query(
            """
            UPDATE build SET owner = $1, claimed = \(Self.databaseNow)
            WHERE id IN (
                SELECT id FROM build WHERE NOT finished AND owner IS NULL AND NOT (job_id = ANY($3::text[]))
                ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
            RETURNING *
            """,
            [node, String(limit), excluded]
        ).map { row throws(StorageError) in try Self.build(row) }.sorted { $0.id < $1.id }
    }

    public func releaseBuild(_ id: Int64, node: String) throws(StorageError) {
        try update(
            "UPDATE build SET owner = NULL, claimed = NULL WHERE id = $1 AND owner = $2 AND NOT started AND NOT finished",
            [String(id), node])
    }

    public func claimedUnstarted(node: String) throws(StorageError) -> [Int64] {
        try query("SELECT id FROM build WHERE owner = $1 AND NOT started AND NOT finished", [node])
            .compactMap { $0["id"].flatMap(Int64.init) }
    }

    public func cancelQueuedBuild(_ id: Int64, exception: JSONValue) throws(StorageError) -> Bool {
        try update(
            """
            UPDATE build SET finished = true, success = false, end_time = \(Self.databaseNow), exception = $2
            WHERE id = $1 AND owner IS NULL AND NOT finished
            """,
            [String(id), Packing.pack(exception)]) == 1
    }

    public func recoverExpiredNodes(
        exception: JSONValue, notify: @Sendable (Int64, String, JSONValue) -> NotificationTrigger?
    ) throws(StorageError) -> ClusterRecovery {
        try pool.with { connection throws(StorageError) in
            try connection.transaction { connection throws(StorageError) in
                var recovery = ClusterRecovery()
                // A row lock per dead daemon: whoever locks it recovers it, the others skip it.
                let dead = try connection.execute(
                    "SELECT node FROM daemon WHERE state = 'alive' AND heartbeat + lease < \(Self.databaseNow) FOR UPDATE SKIP LOCKED"
                ).values.compactMap { $0[0] }
                for node in dead {
                    // A dead daemon that still holds the scheduler lock (hung with its connection
                    // open) loses that session, so another daemon takes over the schedules.
                    // (Needs the same role or pg_signal_backend; without, the lease still fails its builds over.)
                    try connection.execute("SAVEPOINT end_scheduler")
                    do {
                        try connection.execute(
                            "SELECT pg_terminate_backend(scheduler_backend) FROM daemon WHERE node = $1 AND scheduler_backend IS NOT NULL",
                            [node])
                    } catch {
                        try connection.execute("ROLLBACK TO SAVEPOINT end_scheduler")
                    }
                    try connection.execute(
                        "UPDATE daemon SET state = 'lost', scheduler_backend = NULL WHERE node = $1", [node])
                    let failed = try connection.execute(
                        """
                        UPDATE build SET finished = true, success = false, end_time = \(Self.databaseNow), exception = $2, lost = true
                        WHERE owner = $1 AND started AND NOT finished RETURNING id, job_id, config
                        """,
                        [node, Packing.pack(exception)]
                    ).rows()
                    for row in failed {
                        guard let id = row["id"].flatMap(Int64.init), let job = row["job_id"] else { continue }
                        recovery.failed.append((id, job))
                        let config = (try? Packing.unpack(row["config"] ?? "{}")) ?? .object([:])
                        if let trigger = notify(id, job, config) {
                            recovery.notified += try PostgresOutbox.record(trigger, connection).count
                        }
                    }
                    recovery.released += try connection.execute(
                        "UPDATE build SET owner = NULL, claimed = NULL WHERE owner = $1 AND NOT started AND NOT finished RETURNING id",
                        [node]
                    ).values.compactMap { $0[0].flatMap(Int64.init) }
                    recovery.nodes.append(node)
                }
                recovery.failed.sort { $0.id < $1.id }
                recovery.released.sort()
                return recovery
            }
        }
    }

    public func leftovers(node: String) throws(StorageError) -> NodeLeftovers {
        var leftovers = NodeLeftovers()
        let rows = try query(
            "SELECT * FROM build WHERE owner = $1 AND (NOT finished OR (lost AND process_group IS NOT NULL)) ORDER BY id",
            [node])
        for row in rows {
            let entry = UnfinishedBuild(
                build: try Self.build(row), processGroup: row["process_group"].flatMap(Int32.init),
                processStartTicks: row["process_start"].flatMap(Int64.init), cgroup: CgroupColumn.paths(row["cgroup"]))
            if entry.build.finished {
                leftovers.recoveredElsewhere.append(entry)
            } else if entry.build.started {
                leftovers.running.append(entry)
            } else {
                leftovers.claimed.append(entry.build.id)
            }
        }
        return leftovers
    }

    public func clearBuildProcess(_ id: Int64) throws(StorageError) {
        try update("UPDATE build SET process_group = NULL, process_start = NULL WHERE id = $1", [String(id)])
    }

    public func setScheduler(node: String, backend: Int32?) throws(StorageError) {
        if let backend {
            try update(
                "UPDATE daemon SET scheduler_backend = CASE WHEN node = $1 THEN $2::integer ELSE NULL END",
                [node, String(backend)])
        } else {
            try update("UPDATE daemon SET scheduler_backend = NULL WHERE node = $1", [node])
        }
    }

    public func notifyCluster(_ message: String) throws(StorageError) {
        try update("SELECT pg_notify(\(Self.channelExpression), $1)", [message])
    }
}
