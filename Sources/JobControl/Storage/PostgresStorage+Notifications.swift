import Dispatch
import FoundationEssentials
import Glibc

/// The outbox in PostgreSQL. Daemons of a cluster claim notifications with `FOR UPDATE SKIP
/// LOCKED`, so each is claimed by one of them; a claim carries a deadline after which another
/// daemon may take it over (its daemon died mid-attempt).
extension PostgresStorage {
    static let notificationMigration = [
        """
        CREATE TABLE notification (
            id BIGSERIAL PRIMARY KEY, channel TEXT NOT NULL, event TEXT NOT NULL, job_id TEXT, build_id BIGINT,
            payload TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
            created DOUBLE PRECISION NOT NULL, next_attempt DOUBLE PRECISION NOT NULL, delivered DOUBLE PRECISION,
            node TEXT, last_error TEXT)
        """,
        "CREATE INDEX notification_due ON notification (next_attempt) WHERE state IN ('pending', 'sending')",
        "CREATE INDEX notification_job ON notification (job_id, id)",
        """
        CREATE TABLE notification_attempt (
            notification_id BIGINT NOT NULL REFERENCES notification (id) ON DELETE CASCADE,
            number INTEGER NOT NULL, node TEXT NOT NULL, started DOUBLE PRECISION NOT NULL,
            ended DOUBLE PRECISION, outcome TEXT NOT NULL, detail TEXT, PRIMARY KEY (notification_id, number))
        """,
        "CREATE TABLE notify_state (job_id TEXT PRIMARY KEY, state TEXT NOT NULL)",
    ]

    public func recordNotifications(_ trigger: NotificationTrigger) throws(StorageError) -> [Int64] {
        try pool.with { connection throws(StorageError) in
            try connection.transaction { connection throws(StorageError) in
                try PostgresOutbox.record(trigger, connection)
            }
        }
    }

    public func addNotification(_ draft: NotificationDraft, now: Date) throws(StorageError) -> Int64 {
        try pool.with { connection throws(StorageError) in try PostgresOutbox.insert(draft, now: now, connection) }
    }

    public func claimNotifications(node: String, now: Date, lease: TimeInterval, limit: Int) throws(StorageError)
        -> [NotificationRecord]
    {
        let time = String(now.timeIntervalSince1970)
        return try pool.with { connection throws(StorageError) in
            try connection.transaction { connection throws(StorageError) in
                let rows = try connection.execute(
                    """
                    UPDATE notification SET state = 'sending', attempts = attempts + 1, node = $1, next_attempt = $2
                    WHERE id IN (
                        SELECT id FROM notification WHERE state IN ('pending', 'sending') AND next_attempt <= $3
                        ORDER BY next_attempt, id LIMIT $4 FOR UPDATE SKIP LOCKED)
                    RETURNING *
                    """, [node, String(now.timeIntervalSince1970 + lease), time, String(limit)]
                ).rows()
                var claimed: [NotificationRecord] = []
                for row in rows {
                    let record = try PostgresOutbox.record(row)
                    try connection.execute(
                        """
                        UPDATE notification_attempt SET outcome = 'interrupted', ended = $1,
                            detail = 'the daemon making it stopped or died' WHERE notification_id = $2 AND outcome = 'running'
                        """, [time, String(record.id)])
                    try connection.execute(
                        "INSERT INTO notification_attempt (notification_id, number, node, started, outcome) VALUES ($1, $2, $3, $4, 'running')",
                        [String(record.id), String(record.attempts), node, time])
                    claimed.append(record)
                }
                return claimed.sorted { $0.id < $1.id }
            }
        }
    }

    @discardableResult
    public func finishNotificationAttempt(
        id: Int64, number: Int, node: String, delivered: Bool, detail: String?, retryAt: Date?, now: Date
    ) throws(StorageError) -> Bool {
        let time = String(now.timeIntervalSince1970)
        return try pool.with { connection throws(StorageError) in
            try connection.transaction { connection throws(StorageError) in
                try connection.execute(
                    "UPDATE notification_attempt SET outcome = $1, ended = $2, detail = $3 WHERE notification_id = $4 AND number = $5",
                    [delivered ? "delivered" : "failed", time, detail, String(id), String(number)])
                if delivered {
                    // A success counts even when the claim expired meanwhile (see SQLite's).
                    try connection.execute(
                        """
                        UPDATE notification SET state = 'delivered', delivered = $1, last_error = NULL
                        WHERE id = $2 AND state <> 'delivered'
                        """, [time, String(id)])
                    let owner = try connection.execute(
                        "SELECT node, attempts FROM notification WHERE id = $1", [String(id)]
                    ).values.first
                    return owner?[0] == node && owner?[1] == String(number)
                }
                let state = retryAt == nil ? "failed" : "pending"
                return try connection.execute(
                    """
                    UPDATE notification SET state = $1, next_attempt = $2, delivered = $3, last_error = $4
                    WHERE id = $5 AND state = 'sending' AND node = $6 AND attempts = $7
                    """,
                    [
                        state, String((retryAt ?? now).timeIntervalSince1970), delivered ? time : nil,
                        delivered ? nil : detail, String(id), node, String(number),
                    ]
                ).affected == 1
            }
        }
    }

    public func releaseNotifications(node: String, now: Date) throws(StorageError) -> Int {
        let time = String(now.timeIntervalSince1970)
        return try pool.with { connection throws(StorageError) in
            try connection.transaction { connection throws(StorageError) in
                try connection.execute(
                    """
                    UPDATE notification_attempt SET outcome = 'interrupted', ended = $1,
                        detail = 'the daemon stopped or died during the attempt; whether it arrived is unknown'
                    WHERE outcome = 'running' AND node = $2
                    """, [time, node])
                return try connection.execute(
                    "UPDATE notification SET state = 'pending', next_attempt = $1 WHERE state = 'sending' AND node = $2",
                    [time, node]
                ).affected
            }
        }
    }

    public func listNotifications(jobID: String?, state: NotificationState?, limit: Int) throws(StorageError)
        -> [NotificationRecord]
    {
        var filter = PostgresWhere()
        filter.add("job_id = ?", jobID)
        filter.add("state = ?", state?.rawValue)
        let limitParameter = filter.parameter(String(limit))
        return try query(
            "SELECT * FROM notification \(filter.clause) ORDER BY id DESC LIMIT \(limitParameter)", filter.parameters
        ).map { row throws(StorageError) in try PostgresOutbox.record(row) }
    }

    public func notification(_ id: Int64) throws(StorageError) -> (NotificationRecord, [NotificationAttempt])? {
        guard let row = try query("SELECT * FROM notification WHERE id = $1", [String(id)]).first else { return nil }
        let attempts = try query(
            "SELECT * FROM notification_attempt WHERE notification_id = $1 ORDER BY number", [String(id)]
        ).map { row in
            NotificationAttempt(
                notificationID: id, number: Int(row["number"] ?? "") ?? 0, node: row["node"] ?? "",
                started: Date(timeIntervalSince1970: Double(row["started"] ?? "") ?? 0),
                ended: row["ended"].flatMap(Double.init).map(Date.init(timeIntervalSince1970:)),
                outcome: NotificationAttempt.Outcome(rawValue: row["outcome"] ?? "") ?? .failed, detail: row["detail"])
        }
        return (try PostgresOutbox.record(row), attempts)
    }

    public func resendNotification(_ id: Int64, now: Date) throws(StorageError) -> Bool {
        try update(
            "UPDATE notification SET state = 'pending', next_attempt = $1 WHERE id = $2 AND state IN ('delivered', 'failed', 'pending')",
            [String(now.timeIntervalSince1970), String(id)]) == 1
    }

    public func nextNotificationDue() throws(StorageError) -> Date? {
        try query("SELECT min(next_attempt) AS due FROM notification WHERE state IN ('pending', 'sending')").first?[
            "due"
        ].flatMap(Double.init).map(Date.init(timeIntervalSince1970:))
    }

    public func pruneNotifications(before: Date) throws(StorageError) -> Int {
        try update(
            "DELETE FROM notification WHERE state IN ('delivered', 'failed') AND created < $1",
            [String(before.timeIntervalSince1970)])
    }
}

/// Outbox writes that ride other transactions on a PostgreSQL connection.
enum PostgresOutbox {
    /// Decides `trigger` against the job's alert state, locked for the rest of the transaction
    /// (two daemons finishing builds of one job decide one after the other), and writes what it
    /// causes.
    static func record(_ trigger: NotificationTrigger, _ connection: PostgresConnection) throws(StorageError) -> [Int64]
    {
        guard !trigger.rules.isEmpty else { return [] }
        let initial = AlertState(since: trigger.now)
        // One statement: the row made if missing, locked either way (an upsert that updates
        // locks it), and its state read back.
        let stored =
            try connection.execute(
                """
                INSERT INTO notify_state (job_id, state) VALUES ($1, $2)
                ON CONFLICT (job_id) DO UPDATE SET state = notify_state.state RETURNING state
                """, [trigger.jobID, Packing.pack(initial.json)]
            ).values.first?[0] ?? nil
        let before = stored.flatMap { try? Packing.unpack($0) }.flatMap(AlertState.init(json:)) ?? initial
        let (after, drafts) = NotificationPolicy.decide(trigger, state: before)
        if after != before {
            try connection.execute(
                "UPDATE notify_state SET state = $1 WHERE job_id = $2", [Packing.pack(after.json), trigger.jobID])
        }
        var ids: [Int64] = []
        for draft in drafts { ids.append(try insert(draft, now: trigger.now, connection)) }
        trigger.written.add(ids.count)
        return ids
    }

    static func insert(_ draft: NotificationDraft, now: Date, _ connection: PostgresConnection) throws(StorageError)
        -> Int64
    {
        let time = String(now.timeIntervalSince1970)
        guard
            let id = try connection.execute(
                """
                INSERT INTO notification (channel, event, job_id, build_id, payload, state, attempts, created, next_attempt)
                VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7) RETURNING id
                """,
                [
                    draft.channel, draft.event.rawValue, draft.jobID, draft.buildID.map { String($0) },
                    Packing.pack(draft.payload), time, time,
                ]
            ).values.first?[0].flatMap(Int64.init)
        else { throw StorageError(.query, "no id for the new notification") }
        return id
    }

    static func record(_ row: [String: String]) throws(StorageError) -> NotificationRecord {
        NotificationRecord(
            id: Int64(row["id"] ?? "") ?? 0, channel: row["channel"] ?? "",
            event: NotificationEvent(rawValue: row["event"] ?? "") ?? .test, jobID: row["job_id"],
            buildID: row["build_id"].flatMap(Int64.init),
            state: NotificationState(rawValue: row["state"] ?? "") ?? .pending,
            attempts: Int(row["attempts"] ?? "") ?? 0,
            created: Date(timeIntervalSince1970: Double(row["created"] ?? "") ?? 0),
            nextAttempt: row["next_attempt"].flatMap(Double.init).map(Date.init(timeIntervalSince1970:)),
            delivered: row["delivered"].flatMap(Double.init).map(Date.init(timeIntervalSince1970:)), node: row["node"],
            payload: try Packing.unpack(row["payload"] ?? "{}"), lastError: row["last_error"])
    }
}
