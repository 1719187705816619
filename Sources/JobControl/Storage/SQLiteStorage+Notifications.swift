import Dispatch
import FoundationEssentials
import Glibc

/// The outbox in SQLite (migration `v6-notifications`). One daemon uses a SQLite database, so a
/// claim needs no lock beyond the write transaction.
extension SQLiteStorage {
    public func recordNotifications(_ trigger: NotificationTrigger) throws(StorageError) -> [Int64] {
        try write("record notifications of '\(trigger.jobID)'") { db in try SQLiteOutbox.record(trigger, db) }
    }

    public func addNotification(_ draft: NotificationDraft, now: Date) throws(StorageError) -> Int64 {
        try write("add a notification") { db in try SQLiteOutbox.insert(draft, now: now, db) }
    }

    public func claimNotifications(node: String, now: Date, lease: TimeInterval, limit: Int) throws(StorageError)
        -> [NotificationRecord]
    {
        // Most wake-ups find nothing due: a read says so without taking the write lock.
        let due = try readStatement("look for notifications due") { db in
            try db.fetchValue(
                Bool.self,
                sql:
                    "SELECT EXISTS (SELECT 1 FROM notification WHERE state IN ('pending', 'sending') AND next_attempt <= ?)",
                arguments: [now.timeIntervalSince1970]) ?? false
        }
        guard due else { return [] }
        return try write("claim notifications") { db in
            let time = now.timeIntervalSince1970
            let rows = try db.fetchAll(
                sql: """
                    SELECT * FROM notification
                    WHERE state IN ('pending', 'sending') AND next_attempt <= ? ORDER BY next_attempt, id LIMIT ?
                    """, arguments: [time, limit])
            var claimed: [NotificationRecord] = []
            for row in rows {
                let id: Int64 = row["id"]
                // A claim that expired: its attempt never ended.
                try db.execute(
                    sql:
                        "UPDATE notification_attempt SET outcome = 'interrupted', ended = ?, detail = 'the daemon making it stopped or died' WHERE notification_id = ? AND outcome = 'running'",
                    arguments: [time, id])
                try db.execute(
                    sql:
                        "UPDATE notification SET state = 'sending', attempts = attempts + 1, node = ?, next_attempt = ? WHERE id = ?",
                    arguments: [node, time + lease, id])
                let number: Int = row["attempts"] + 1
                try db.execute(
                    sql:
                        "INSERT INTO notification_attempt (notification_id, number, node, started, outcome) VALUES (?, ?, ?, ?, 'running')",
                    arguments: [id, number, node, time])
                var record = try SQLiteOutbox.record(row)
                record.state = .sending
                record.attempts = number
                record.node = node
                record.nextAttempt = Date(timeIntervalSince1970: time + lease)
                claimed.append(record)
            }
            return claimed
        }
    }

    @discardableResult
    public func finishNotificationAttempt(
        id: Int64, number: Int, node: String, delivered: Bool, detail: String?, retryAt: Date?, now: Date
    ) throws(StorageError) -> Bool {
        try write("record a notification attempt") { db in
            let time = now.timeIntervalSince1970
            try db.execute(
                sql:
                    "UPDATE notification_attempt SET outcome = ?, ended = ?, detail = ? WHERE notification_id = ? AND number = ?",
                arguments: [delivered ? "delivered" : "failed", time, detail, id, number])
            if delivered {
                // A success counts even when the claim expired meanwhile: it is never sent again
                // (the daemon that took over may still be sending it; the id lets the receiver tell).
                try db.execute(
                    sql: """
                        UPDATE notification SET state = 'delivered', delivered = ?, last_error = NULL
                        WHERE id = ? AND state <> 'delivered'
                        """, arguments: [time, id])
                return try db.fetchValue(
                    Bool.self, sql: "SELECT node = ? AND attempts = ? FROM notification WHERE id = ?",
                    arguments: [node, number, id]) ?? false
            }
            let state = retryAt == nil ? "failed" : "pending"
            try db.execute(
                sql: """
                    UPDATE notification SET state = ?, next_attempt = ?, delivered = ?, last_error = ?
                    WHERE id = ? AND state = 'sending' AND node = ? AND attempts = ?
                    """,
                arguments: [
                    state, (retryAt ?? now).timeIntervalSince1970, delivered ? time : nil, delivered ? nil : detail, id,
                    node, number,
                ])
            return db.changesCount == 1
        }
    }

    public func releaseNotifications(node: String, now: Date) throws(StorageError) -> Int {
        try write("release notifications") { db in
            let time = now.timeIntervalSince1970
            try db.execute(
                sql: """
                    UPDATE notification_attempt SET outcome = 'interrupted', ended = ?,
                        detail = 'the daemon stopped or died during the attempt; whether it arrived is unknown'
                    WHERE outcome = 'running' AND node = ?
                    """, arguments: [time, node])
            try db.execute(
                sql: "UPDATE notification SET state = 'pending', next_attempt = ? WHERE state = 'sending' AND node = ?",
                arguments: [time, node])
            return db.changesCount
        }
    }

    public func listNotifications(jobID: String?, state: NotificationState?, limit: Int) throws(StorageError)
        -> [NotificationRecord]
    {
        try read("list notifications") { db in
            var conditions: [String] = []
            var arguments: [(any SQLiteBindable)?] = []
            if let jobID {
                conditions.append("job_id = ?")
                arguments.append(jobID)
            }
            if let state {
                conditions.append("state = ?")
                arguments.append(state.rawValue)
            }
            arguments.append(limit)
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            return try db.fetchAll(
                sql: "SELECT * FROM notification \(filter) ORDER BY id DESC LIMIT ?",
                arguments: SQLiteArguments(arguments)
            ).map(SQLiteOutbox.record)
        }
    }

    public func notification(_ id: Int64) throws(StorageError) -> (NotificationRecord, [NotificationAttempt])? {
        try read("read notification \(id)") { db in
            guard let row = try db.fetchOne(sql: "SELECT * FROM notification WHERE id = ?", arguments: [id]) else {
                return nil
            }
            let attempts = try db.fetchAll(
                sql: "SELECT * FROM notification_attempt WHERE notification_id = ? ORDER BY number",
                arguments: [id]
            ).map { row in
                NotificationAttempt(
                    notificationID: id, number: row["number"], node: row["node"],
                    started: Date(timeIntervalSince1970: row["started"]),
                    ended: (row["ended"] as Double?).map(Date.init(timeIntervalSince1970:)),
                    outcome: NotificationAttempt.Outcome(rawValue: row["outcome"]) ?? .failed, detail: row["detail"])
            }
            return (try SQLiteOutbox.record(row), attempts)
        }
    }

    public func resendNotification(_ id: Int64, now: Date) throws(StorageError) -> Bool {
        try write("re-send notification \(id)") { db in
            try db.execute(
                sql:
                    "UPDATE notification SET state = 'pending', next_attempt = ? WHERE id = ? AND state IN ('delivered', 'failed', 'pending')",
                arguments: [now.timeIntervalSince1970, id])
            return db.changesCount == 1
        }
    }

    public func nextNotificationDue() throws(StorageError) -> Date? {
        try readStatement("find the next notification due") { db in
            try db.fetchValue(
                Double.self, sql: "SELECT min(next_attempt) FROM notification WHERE state IN ('pending', 'sending')"
            ).map(Date.init(timeIntervalSince1970:))
        }
    }

    public func pruneNotifications(before: Date) throws(StorageError) -> Int {
        try write("prune notifications") { db in
            try db.execute(
                sql: "DELETE FROM notification WHERE state IN ('delivered', 'failed') AND created < ?",
                arguments: [before.timeIntervalSince1970])
            return db.changesCount
        }
    }
}

/// Outbox writes that ride other transactions (a build's end, an occurrence's record).
enum SQLiteOutbox {
    /// Decides `trigger` against the job's alert state and writes what it causes.
    static func record(_ trigger: NotificationTrigger, _ db: SQLiteConnection) throws -> [Int64] {
        guard !trigger.rules.isEmpty else { return [] }
        let stored = try db.fetchValue(
            String.self, sql: "SELECT state FROM notify_state WHERE job_id = ?", arguments: [trigger.jobID])
        let before = stored.flatMap { try? Packing.unpack($0) }.flatMap(AlertState.init(json:))
        let (after, drafts) = NotificationPolicy.decide(trigger, state: before ?? AlertState(since: trigger.now))
        if after != before {
            try db.execute(
                sql:
                    "INSERT INTO notify_state (job_id, state) VALUES (?, ?) ON CONFLICT (job_id) DO UPDATE SET state = excluded.state",
                arguments: [trigger.jobID, Packing.pack(after.json)])
        }
        let ids = try drafts.map { try insert($0, now: trigger.now, db) }
        trigger.written.add(ids.count)
        return ids
    }

    static func insert(_ draft: NotificationDraft, now: Date, _ db: SQLiteConnection) throws -> Int64 {
        try db.execute(
            sql: """
                INSERT INTO notification (channel, event, job_id, build_id, payload, state, attempts, created, next_attempt)
                VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)
                """,
            arguments: [
                draft.channel, draft.event.rawValue, draft.jobID, draft.buildID, Packing.pack(draft.payload),
                now.timeIntervalSince1970, now.timeIntervalSince1970,
            ])
        return db.lastInsertedRowID
    }

    static func record(_ row: SQLiteRow) throws -> NotificationRecord {
        NotificationRecord(
            id: row["id"], channel: row["channel"], event: NotificationEvent(rawValue: row["event"]) ?? .test,
            jobID: row["job_id"], buildID: row["build_id"],
            state: NotificationState(rawValue: row["state"]) ?? .pending, attempts: row["attempts"],
            created: Date(timeIntervalSince1970: row["created"]),
            nextAttempt: (row["next_attempt"] as Double?).map(Date.init(timeIntervalSince1970:)),
            delivered: (row["delivered"] as Double?).map(Date.init(timeIntervalSince1970:)), node: row["node"],
            payload: try Packing.unpack(row["payload"]), lastError: row["last_error"])
    }
}
