import Dispatch
import FoundationEssentials
import Glibc
import Synchronization

/// ``Storage`` on PostgreSQL through libpq, for several daemons (on one host or many) sharing
/// one database. The schema mirrors SQLite's (timestamps as seconds in `double precision`, JSON
/// as text), and the same conformance suite runs against both.
///
/// Ownership: connections belong to ``PostgresPool``; the only other state is the first failure
/// of an enqueued write, kept for ``flush()`` in a mutex.
public final class PostgresStorage: Storage {
    let pool: PostgresPool
    let url: String
    /// Log lines, progress reports and process records, committed in shared transactions with
    /// multi-row inserts (see ``PostgresBatch``): one round trip per batch, not per line.
    let batchWriter: GroupCommitWriter<PostgresBatch.Operation>
    public let health: StorageHealth
    /// This daemon's node name once it joined a cluster (``ClusterMember``), else nil. It starts
    /// and finishes only builds it owns: a daemon that lost its lease must not write over the
    /// record of a build another daemon has since claimed and run.
    let clusterNode = Mutex<String?>(nil)

    /// Connects to `url` (`postgresql://user:password@host:port/database`); with `schema`, every
    /// table lives in that schema (tests give each case its own).
    public init(url: String, schema: String? = nil) throws(StorageError) {
        self.url = url
        let health = StorageHealth()
        self.health = health
        let pool = try PostgresPool(url: url, schema: schema, health: health)
        self.pool = pool
        batchWriter = PostgresBatch.make(pool: pool, health: health)
    }

    static let migrations: [(name: String, sql: [String])] = [
        (
            "v1-schema",
            [
                """
                CREATE TABLE build (
                    id BIGSERIAL PRIMARY KEY, job_id TEXT NOT NULL,
                    start_time DOUBLE PRECISION, end_time DOUBLE PRECISION,
                    started BOOLEAN NOT NULL DEFAULT false, finished BOOLEAN NOT NULL DEFAULT false,
                    success BOOLEAN NOT NULL DEFAULT false, skipped BOOLEAN NOT NULL DEFAULT false,
                    config TEXT NOT NULL, retval TEXT, exception TEXT, exception_tb TEXT,
                    process_group INTEGER, process_start BIGINT)
                """,
                "CREATE INDEX build_job_id ON build (job_id, id)",
                "CREATE INDEX build_unfinished ON build (finished) WHERE NOT finished",
                "CREATE INDEX build_job_success ON build (job_id, id) WHERE finished AND success AND NOT skipped",
                """
                CREATE TABLE build_progress (
                    build_id BIGINT NOT NULL REFERENCES build (id) ON DELETE CASCADE,
                    group_name VARCHAR(128) NOT NULL DEFAULT '', current BIGINT NOT NULL, total BIGINT NOT NULL,
                    status_line TEXT, UNIQUE (build_id, group_name))
                """,
                """
                CREATE TABLE log (
                    id BIGSERIAL PRIMARY KEY, build_id BIGINT REFERENCES build (id) ON DELETE CASCADE,
                    created DOUBLE PRECISION NOT NULL, level INTEGER NOT NULL, record TEXT NOT NULL, exception_tb TEXT)
                """,
                "CREATE INDEX log_build_id ON log (build_id, id)",
                "CREATE INDEX log_created ON log (created)",
                """
                CREATE TABLE occurrence (
                    job_id TEXT NOT NULL, due BIGINT NOT NULL, outcome TEXT NOT NULL, build_id BIGINT,
                    recorded DOUBLE PRECISION NOT NULL, detail TEXT, PRIMARY KEY (job_id, due))
                """,
                "CREATE TABLE job_state (job_id TEXT PRIMARY KEY, suspended BOOLEAN NOT NULL DEFAULT false, changed DOUBLE PRECISION NOT NULL)",
            ]
        ),
        ("v2-cluster", clusterMigration),
        ("v3-scheduler-lock", ["ALTER TABLE daemon ADD COLUMN scheduler_backend INTEGER"]),
        ("v4-build-containment", ["ALTER TABLE build ADD COLUMN cgroup TEXT, ADD COLUMN usage TEXT"]),
        ("v5-notifications", notificationMigration),
    ]
    static let tables = [
        "notification_attempt", "notification", "notify_state", "daemon", "occurrence", "job_state", "build_progress",
        "log", "build", "jobcontrol_migrations",
    ]

    public func install() throws(StorageError) {
        try pool.with { connection throws(StorageError) in
            // Migrations may take long, and wait for another daemon's: no statement deadline.
            connection.statementTimeout = nil
            defer { connection.statementTimeout = PostgresConnection.defaultStatementTimeout }
            try connection.transaction { connection throws(StorageError) in
                // One installer at a time, whichever daemon starts first.
                try connection.execute("SELECT pg_advisory_xact_lock(7354011)")
                try connection.execute(
                    "CREATE TABLE IF NOT EXISTS jobcontrol_migrations (name TEXT PRIMARY KEY, applied DOUBLE PRECISION NOT NULL)"
                )
                let applied = Set(
                    try connection.execute("SELECT name FROM jobcontrol_migrations").values.compactMap { $0[0] })
                for migration in Self.migrations where !applied.contains(migration.name) {
                    for statement in migration.sql { try connection.execute(statement) }
                    try connection.execute(
                        "INSERT INTO jobcontrol_migrations (name, applied) VALUES ($1, $2)",
                        [migration.name, Self.now()])
                }
            }
        }
    }

    public func uninstall() throws(StorageError) {
        try pool.with { connection throws(StorageError) in
            for table in Self.tables { try connection.execute("DROP TABLE IF EXISTS \(table) CASCADE") }
            try connection.execute("DROP FUNCTION IF EXISTS jobcontrol_build_notify() CASCADE")
        }
    }

    // MARK: Helpers

    static func now() -> String { String(Date().timeIntervalSince1970) }
    static func text(_ value: Bool) -> String { value ? "t" : "f" }

    /// Runs `sql` and returns its rows. A plain `SELECT` is retried once on a new connection if its
    /// connection broke under it; anything that may write is not.
    func query(_ sql: String, _ parameters: [String?] = []) throws(StorageError) -> [[String: String]] {
        let readOnly = sql.hasPrefix("SELECT") && !sql.contains("FOR UPDATE")
        return try pool.with(retryingReads: readOnly) { connection throws(StorageError) in
            try connection.execute(sql, parameters).rows()
        }
    }

    @discardableResult
    func update(_ sql: String, _ parameters: [String?] = []) throws(StorageError) -> Int {
        try pool.with { connection throws(StorageError) in try connection.execute(sql, parameters).affected }
    }

    static func build(_ row: [String: String]) throws(StorageError) -> Build {
        func json(_ name: String) throws(StorageError) -> JSONValue? {
            guard let text = row[name] else { return nil }
            do { return try Packing.unpack(text) } catch {
                throw StorageError(.query, "column \(name) of build \(row["id"] ?? "?") is not JSON")
            }
        }
        return Build(
            id: Int64(row["id"] ?? "") ?? 0, jobID: row["job_id"] ?? "",
            startTime: row["start_time"].flatMap(Double.init).map(Date.init(timeIntervalSince1970:)),
            endTime: row["end_time"].flatMap(Double.init).map(Date.init(timeIntervalSince1970:)),
            started: row["started"] == "t", finished: row["finished"] == "t", success: row["success"] == "t",
            skipped: row["skipped"] == "t", config: try json("config") ?? .object([:]), retval: try json("retval"),
            exception: try json("exception"), exceptionTraceback: try json("exception_tb"), node: row["owner"],
            usage: try json("usage").flatMap(ResourceUsage.init(json:)))
    }

    // MARK: Builds

    public func getJobBuilds(jobID: String?, filter: BuildFilter, order: BuildOrder, limit: Int) throws(StorageError)
        -> [Build]
    {
        var filterSQL = PostgresWhere()
        filterSQL.add("job_id = ?", jobID)
        filterSQL.add("started = ?", filter.started.map(Self.text))
        filterSQL.add("finished = ?", filter.finished.map(Self.text))
        filterSQL.add("success = ?", filter.success.map(Self.text))
        filterSQL.add("skipped = ?", filter.skipped.map(Self.text))
        let limitParameter = filterSQL.parameter(String(limit))
        let sql =
            "SELECT * FROM build \(filterSQL.clause) ORDER BY id \(order == .ascending ? "ASC" : "DESC") LIMIT \(limitParameter)"
        return try query(sql, filterSQL.parameters).map { row throws(StorageError) in try Self.build(row) }
    }

    public func jobIDs() throws(StorageError) -> [String] {
        try query("SELECT DISTINCT job_id FROM build ORDER BY job_id").compactMap { $0["job_id"] }
    }

    public func createBuild(jobID: String, jobConfig: JSONValue, buildConfig: JSONValue) throws(StorageError) -> Int64 {
        let config: JSONValue = ["job": jobConfig, "build": buildConfig]
        let rows = try query(
            "INSERT INTO build (job_id, config) VALUES ($1, $2) RETURNING id", [jobID, Packing.pack(config)])
        guard let id = rows.first?["id"].flatMap(Int64.init) else {
            throw StorageError(.query, "no id for the new build")
        }
        return id
    }

    public func createNotRunBuild(jobID: String, jobConfig: JSONValue, exception: JSONValue) throws(StorageError)
        -> Int64
    {
        let config: JSONValue = ["job": jobConfig, "build": [:]]
        let rows = try query(
            """
            INSERT INTO build (job_id, config, finished, success, end_time, exception)
            VALUES ($1, $2, true, false, $3, $4) RETURNING id
            """, [jobID, Packing.pack(config), Self.now(), Packing.pack(exception)])
        guard let id = rows.first?["id"].flatMap(Int64.init) else {
            throw StorageError(.query, "no id for the new build")
        }
        return id
    }

    public func getBuild(_ id: Int64) throws(StorageError) -> Build? {
        try query("SELECT * FROM build WHERE id = $1", [String(id)]).first.map { row throws(StorageError) in
            try Self.build(row)
        }
    }

    public func deleteBuild(_ id: Int64) throws(StorageError) {
        guard try update("DELETE FROM build WHERE id = $1", [String(id)]) == 1 else {
            throw StorageError(.noSuchBuild, "no build with id \(id)")
        }
    }

    public func getLatestSuccessfulBuild(jobID: String) throws(StorageError) -> Build? {
        try query(
            "SELECT * FROM build WHERE job_id = $1 AND finished AND success AND NOT skipped ORDER BY id DESC LIMIT 1",
            [jobID]
        ).first.map { row throws(StorageError) in try Self.build(row) }
    }

    public func failUnfinishedBuilds(reason: BuildException) throws(StorageError) -> [Int64] {
        try query(
            "UPDATE build SET finished = true, success = false, end_time = $1, exception = $2 WHERE NOT finished RETURNING id",
            [Self.now(), Packing.pack(reason.json)]
        ).compactMap { $0["id"].flatMap(Int64.init) }.sorted()
    }

    public func setBuildProcess(_ id: Int64, group: Int32, startTicks: Int64, cgroup: [String]?)
        throws(StorageError)
    {
        batchWriter.enqueue([
            .buildProcess(id: id, group: group, startTicks: startTicks, cgroup: CgroupColumn.text(cgroup))
        ])
    }

    public func setBuildUsage(_ id: Int64, _ usage: ResourceUsage) throws(StorageError) {
        batchWriter.enqueue([.buildUsage(id: id, usage: Packing.pack(usage.json))])
    }

    public func unfinishedBuilds() throws(StorageError) -> [UnfinishedBuild] {
        try query("SELECT * FROM build WHERE NOT finished ORDER BY id").map { row throws(StorageError) in
            UnfinishedBuild(
                build: try Self.build(row), processGroup: row["process_group"].flatMap(Int32.init),
                processStartTicks: row["process_start"].flatMap(Int64.init), cgroup: CgroupColumn.paths(row["cgroup"]))
        }
    }

    // MARK: Progress and logs

    public func reportBuildProgress(_ buildID: Int64, _ reports: [ProgressReport]) throws(StorageError) {
        try batchWriter.submit(reports.map { .progress(buildID: buildID, $0) })
    }

    public func getBuildProgressInfo(_ buildID: Int64) throws(StorageError) -> [ProgressInfo] {
        var reports: [ProgressReport] = []
        for row in try query("SELECT * FROM build_progress WHERE build_id = $1", [String(buildID)]) {
            reports.append(
                try ProgressReport(
                    group: ProgressGroup(name: row["group_name"] ?? ""), current: Int64(row["current"] ?? "") ?? 0,
                    total: Int64(row["total"] ?? "") ?? 0, statusLine: row["status_line"]))
        }
        return ProgressInfo.tree(reports)
    }

    public func logMessages(_ records: [LogRecord]) throws(StorageError) {
        try batchWriter.submit(records.map { .log($0) })
    }

    public func enqueueLogMessages(_ records: [LogRecord]) {
        batchWriter.enqueue(records.map { .log($0) })
    }

    public func flush() throws(StorageError) {
        try batchWriter.flush()
    }

    public func flushAsync() async throws(StorageError) {
        try await batchWriter.flushAsync()
    }

    public func waitForWriteCapacity() async {
        await batchWriter.waitForCapacity(limit: SQLiteStorage.maxQueuedWrites)
    }

    public func iterLogMessages(_ logQuery: LogQuery) throws(StorageError) -> [LogRecord] {
        var filter = PostgresWhere()
        filter.add("build_id = ?", logQuery.buildID.map { String($0) })
        filter.add("created >= ?", logQuery.minDate.map { String($0.timeIntervalSince1970) })
        filter.add("created <= ?", logQuery.maxDate.map { String($0.timeIntervalSince1970) })
        filter.add("level >= ?", logQuery.minLevel.map { String($0) })
        filter.add("id > ?", logQuery.afterID.map { String($0) })
        var sql = "SELECT * FROM log \(filter.clause) ORDER BY id\(logQuery.newestFirst ? " DESC" : "")"
        if let limit = logQuery.limit { sql += " LIMIT \(filter.parameter(String(limit)))" }
        return try query(sql, filter.parameters).map { row throws(StorageError) in
            let record: JSONValue
            do { record = try Packing.unpack(row["record"] ?? "{}") } catch {
                throw StorageError(.query, "log record \(row["id"] ?? "?") is not JSON")
            }
            let traceback: JSONValue?
            do { traceback = try row["exception_tb"].map(Packing.unpack) } catch { traceback = nil }
            return LogRecord(
                id: Int64(row["id"] ?? "") ?? 0, buildID: Int64(row["build_id"] ?? "") ?? 0,
                created: Date(timeIntervalSince1970: Double(row["created"] ?? "") ?? 0),
                level: Int(row["level"] ?? "") ?? 0,
                message: record["message"]?.stringValue ?? "", logger: record["logger"]?.stringValue ?? "",
                exceptionTraceback: traceback, partial: record["partial"]?.boolValue ?? false,
                origin: LogRecord.origin(inRecord: record))
        }
    }

    public func pruneLogMessages(_ filter: LogPruneFilter, dryRun: Bool) throws(StorageError) -> Int {
        var condition = PostgresWhere()
        condition.add("build_id IN (SELECT id FROM build WHERE job_id = ?)", filter.jobID)
        condition.add("build_id = ?", filter.buildID.map { String($0) })
        condition.add("created < ?", filter.maxAge.map { String(filter.now.timeIntervalSince1970 - $0) })
        condition.add("level <= ?", filter.level.map { String($0) })
        condition.add("level > ?", filter.levelAbove.map { String($0) })
        if dryRun {
            return Int(
                try query("SELECT count(*) AS n FROM log \(condition.clause)", condition.parameters).first?["n"] ?? "0")
                ?? 0
        }
        // One statement over what may be millions of rows: no deadline (it is not an outage).
        return try pool.with { connection throws(StorageError) in
            connection.statementTimeout = nil
            return try connection.execute("DELETE FROM log \(condition.clause)", condition.parameters).affected
        }
    }

    public func pruneBuilds(jobID: String, policy: BuildRetention, now: Date, dryRun: Bool) throws(StorageError)
        -> [Int64]
    {
        guard !policy.isEmpty else { return [] }
        return try pool.with { connection throws(StorageError) in
            connection.statementTimeout = nil  // deletes of many builds' logs: not an outage
            return try connection.transaction { connection throws(StorageError) in
                let finished = try connection.execute(
                    "SELECT id, end_time FROM build WHERE job_id = $1 AND finished ORDER BY id DESC", [jobID]
                ).rows()
                let latestSuccessful = try connection.execute(
                    "SELECT id FROM build WHERE job_id = $1 AND finished AND success AND NOT skipped ORDER BY id DESC LIMIT 1",
                    [jobID]
                ).values.first?[0].flatMap(Int64.init)
                // Builds other builds pinned as dependencies stay.
                let pinned = Set(
                    try connection.execute(
                        """
                        SELECT DISTINCT (pin.value)::text::bigint AS id FROM build,
                            jsonb_each(build.config::jsonb -> 'build' -> 'dependency_builds') AS pin
                        WHERE jsonb_typeof(build.config::jsonb -> 'build' -> 'dependency_builds') = 'object'
                            AND jsonb_typeof(pin.value) = 'number'
                        """
                    ).values.compactMap { $0[0].flatMap(Int64.init) })
                let cutoff = policy.maxAge.map { now.timeIntervalSince1970 - $0 }
                var doomed: [Int64] = []
                for (position, row) in finished.enumerated() {
                    guard let id = row["id"].flatMap(Int64.init) else { continue }
                    let endTime = row["end_time"].flatMap(Double.init) ?? 0
                    let beyondCount = policy.keepLast.map { position >= $0 } ?? false
                    let tooOld = cutoff.map { endTime < $0 } ?? false
                    guard beyondCount || tooOld, id != latestSuccessful, !pinned.contains(id) else { continue }
                    doomed.append(id)
                }
                if !dryRun {
                    for id in doomed { try connection.execute("DELETE FROM build WHERE id = $1", [String(id)]) }
                }
                return doomed
            }
        }
    }

    // MARK: Schedules

    /// A job suspended by any daemon of the cluster has no occurrence claimed, even by a daemon
    /// that has not heard of the suspension yet.
    public func claimOccurrence(_ occurrence: Occurrence, notify: NotificationTrigger?) throws(StorageError) -> Bool {
        guard let notify else {
            return try pool.with { connection throws(StorageError) in try Self.claim(occurrence, connection) }
        }
        return try pool.with { connection throws(StorageError) in
            try connection.transaction { connection throws(StorageError) -> Bool in
                guard try Self.claim(occurrence, connection) else { return false }
                _ = try PostgresOutbox.record(notify, connection)
                return true
            }
        }
    }

    /// Records `occurrence` unless its job and due time are recorded already, or the job is
    /// suspended; true when it did.
    private static func claim(_ occurrence: Occurrence, _ connection: PostgresConnection) throws(StorageError) -> Bool {
        try connection.execute(
            """
            INSERT INTO occurrence (job_id, due, outcome, build_id, recorded, detail)
            SELECT $1::text, $2::bigint, $3::text, $4::bigint, $5::double precision, $6::text
            WHERE NOT EXISTS (SELECT 1 FROM job_state WHERE job_id = $1::text AND suspended)
            ON CONFLICT (job_id, due) DO NOTHING
            """,
            [
                occurrence.jobID, String(occurrence.due), occurrence.outcome.rawValue,
                occurrence.buildID.map { String($0) },
                String(occurrence.recorded.timeIntervalSince1970), occurrence.detail,
            ]
        ).affected == 1
    }

    public func createBuild(jobID: String, jobConfig: JSONValue, buildConfig: JSONValue, starting: OccurrenceStart)
        throws(StorageError) -> Int64?
    {
        let config: JSONValue = ["job": jobConfig, "build": buildConfig]
        return try pool.with { connection throws(StorageError) -> Int64? in
            try connection.transaction { connection throws(StorageError) -> Int64? in
                let taken: Bool
                switch starting {
                case .claim(var occurrence):
                    (occurrence.outcome, occurrence.buildID) = (.started, nil)  // its build follows below
                    taken = try Self.claim(occurrence, connection)
                case .fromQueue(let jobID, let due, let detail):
                    taken =
                        try connection.execute(
                            "UPDATE occurrence SET outcome = 'started', detail = $1, recorded = $2 WHERE job_id = $3 AND due = $4 AND outcome = 'queued'",
                            [detail, Self.now(), jobID, String(due)]
                        ).affected == 1
                }
                guard taken else { return nil }
                guard
                    let id = try connection.execute(
                        "INSERT INTO build (job_id, config) VALUES ($1, $2) RETURNING id",
                        [jobID, Packing.pack(config)]
                    ).values.first?[0].flatMap(Int64.init)
                else { throw StorageError(.query, "no id for the new build") }
                try connection.execute(
                    "UPDATE occurrence SET build_id = $1 WHERE job_id = $2 AND due = $3",
                    [String(id), starting.jobID, String(starting.due)])
                return id
            }
        }
    }

    public func updateOccurrence(
        jobID: String, due: Int64, outcome: OccurrenceOutcome, buildID: Int64?, detail: String?,
        notify: NotificationTrigger?
    ) throws(StorageError) {
        try pool.with { connection throws(StorageError) in
            try connection.transaction { connection throws(StorageError) in
                try connection.execute(
                    "UPDATE occurrence SET outcome = $1, build_id = $2, detail = $3, recorded = $4 WHERE job_id = $5 AND due = $6",
                    [outcome.rawValue, buildID.map { String($0) }, detail, Self.now(), jobID, String(due)])
                if let notify { _ = try PostgresOutbox.record(notify, connection) }
            }
        }
    }

    public func occurrences(jobID: String?, outcome: OccurrenceOutcome?, limit: Int) throws(StorageError)
        -> [Occurrence]
    {
        var filter = PostgresWhere()
        filter.add("job_id = ?", jobID)
        filter.add("outcome = ?", outcome?.rawValue)
        let limitParameter = filter.parameter(String(limit))
        return try query(
            "SELECT * FROM occurrence \(filter.clause) ORDER BY due DESC LIMIT \(limitParameter)", filter.parameters
        ).map { row in
            Occurrence(
                jobID: row["job_id"] ?? "", due: Int64(row["due"] ?? "") ?? 0,
                outcome: OccurrenceOutcome(rawValue: row["outcome"] ?? "") ?? .missed,
                buildID: row["build_id"].flatMap(Int64.init),
                recorded: Date(timeIntervalSince1970: Double(row["recorded"] ?? "") ?? 0), detail: row["detail"])
        }
    }

    public func setSuspended(jobID: String, _ suspended: Bool) throws(StorageError) {
        try update(
            """
            INSERT INTO job_state (job_id, suspended, changed) VALUES ($1, $2, $3)
            ON CONFLICT (job_id) DO UPDATE SET suspended = excluded.suspended, changed = excluded.changed
            """,
            [jobID, Self.text(suspended), Self.now()])
    }

    public func suspendedJobs() throws(StorageError) -> Set<String> {
        Set(try query("SELECT job_id FROM job_state WHERE suspended").compactMap { $0["job_id"] })
    }
}

/// `WHERE a AND b …` for PostgreSQL, with its numbered parameters (`$1`, `$2` …): the
/// counterpart of ``SQLWhere``.
struct PostgresWhere {
    private var conditions: [String] = []
    private(set) var parameters: [String?] = []

    /// Adds `condition` (with one `?`) when `value` is not nil.
    mutating func add(_ condition: String, _ value: String?) {
        guard let value else { return }
        conditions.append(condition.replacing("?", with: parameter(value)))
    }

    /// Appends a parameter; returns its placeholder.
    mutating func parameter(_ value: String?) -> String {
        parameters.append(value)
        return "$\(parameters.count)"
    }

    var clause: String {
        conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
    }
}
