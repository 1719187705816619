import Dispatch
import FoundationEssentials
import Glibc

extension SQLiteStorage {
    public func claimOccurrence(_ occurrence: Occurrence, notify: NotificationTrigger?) throws(StorageError) -> Bool {
        try write("record occurrence of '\(occurrence.jobID)'") { db in
            guard try Self.claim(occurrence, db) else { return false }
            if let notify { _ = try SQLiteOutbox.record(notify, db) }
            return true
        }
    }

    /// Records `occurrence` unless its job and due time are recorded already; true when it did.
    private static func claim(_ occurrence: Occurrence, _ db: SQLiteConnection) throws -> Bool {
        try db.execute(
            sql: """
                INSERT INTO occurrence (job_id, due, outcome, build_id, recorded, detail)
                VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, due) DO NOTHING
                """,
            arguments: [
                occurrence.jobID, occurrence.due, occurrence.outcome.rawValue, occurrence.buildID,
                occurrence.recorded.timeIntervalSince1970, occurrence.detail,
            ])
        return db.changesCount == 1
    }

    public func createBuild(jobID: String, jobConfig: JSONValue, buildConfig: JSONValue, starting: OccurrenceStart)
        throws(StorageError) -> Int64?
    {
        let config: JSONValue = ["job": jobConfig, "build": buildConfig]
        return try write("start a scheduled build of '\(jobID)'") { db -> Int64? in
            let taken: Bool
            switch starting {
            case .claim(var occurrence):
                (occurrence.outcome, occurrence.buildID) = (.started, nil)  // its build follows below
                taken = try Self.claim(occurrence, db)
            case .fromQueue(let jobID, let due, let detail):
                try db.execute(
                    sql:
                        "UPDATE occurrence SET outcome = 'started', detail = ?, recorded = ? WHERE job_id = ? AND due = ? AND outcome = 'queued'",
                    arguments: [detail, Date().timeIntervalSince1970, jobID, due])
                taken = db.changesCount == 1
            }
            guard taken else { return nil }
            try db.cachedStatement(sql: SQLiteQueries.insertBuild).execute(arguments: [jobID, Packing.pack(config)])
            let id = db.lastInsertedRowID
            try db.execute(
                sql: "UPDATE occurrence SET build_id = ? WHERE job_id = ? AND due = ?",
                arguments: [id, starting.jobID, starting.due])
            return id
        }
    }

    public func updateOccurrence(
        jobID: String, due: Int64, outcome: OccurrenceOutcome, buildID: Int64?, detail: String?,
        notify: NotificationTrigger?
    )
        throws(StorageError)
    {
        try write("update occurrence of '\(jobID)'") { db in
            try db.execute(
                sql:
                    "UPDATE occurrence SET outcome = ?, build_id = ?, detail = ?, recorded = ? WHERE job_id = ? AND due = ?",
                arguments: [outcome.rawValue, buildID, detail, Date().timeIntervalSince1970, jobID, due])
            if let notify { _ = try SQLiteOutbox.record(notify, db) }
        }
    }

    public func occurrences(jobID: String?, outcome: OccurrenceOutcome?, limit: Int) throws(StorageError)
        -> [Occurrence]
    {
        var filter = SQLWhere()
        filter.add("job_id = ?", jobID)
        filter.add("outcome = ?", outcome?.rawValue)
        var arguments = filter.arguments
        arguments += [limit]
        return try read("list occurrences") { db in
            try db.fetchAll(
                sql: "SELECT * FROM occurrence \(filter.clause) ORDER BY due DESC LIMIT ?",
                arguments: arguments
            ).map { row in
                Occurrence(
                    jobID: row["job_id"], due: row["due"],
                    outcome: OccurrenceOutcome(rawValue: row["outcome"]) ?? .missed, buildID: row["build_id"],
                    recorded: Date(timeIntervalSince1970: row["recorded"]), detail: row["detail"])
            }
        }
    }

    public func setSuspended(jobID: String, _ suspended: Bool) throws(StorageError) {
        try write("suspend or resume '\(jobID)'") { db in
            try db.execute(
                sql: """
                    INSERT INTO job_state (job_id, suspended, changed) VALUES (?, ?, ?)
                    ON CONFLICT (job_id) DO UPDATE SET suspended = excluded.suspended, changed = excluded.changed
                    """,
                arguments: [jobID, suspended, Date().timeIntervalSince1970])
        }
    }

    public func suspendedJobs() throws(StorageError) -> Set<String> {
        try read("list suspended jobs") { db in
            Set(try db.fetchColumn(String.self, sql: "SELECT job_id FROM job_state WHERE suspended = 1"))
        }
    }
}
