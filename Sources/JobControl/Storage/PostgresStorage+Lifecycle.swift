import FoundationEssentials

/// A build's start and end on PostgreSQL. In a cluster a daemon starts and finishes only builds it
/// owns (``PostgresStorage/clusterNode``): one that lost its lease must not write over the record
/// of a build another daemon has since claimed and run, nor start one it no longer has.
extension PostgresStorage {
    /// Like every state change, after the log lines and progress enqueued before it (the
    /// storage contract; SQLite gets it from its single writer queue).
    public func startBuild(_ id: Int64) throws(StorageError) {
        try startBuild(id, at: Date())
    }

    /// Still a blocking round trip (the pool has no async interface yet; docs/architecture.md).
    public func startBuildAsync(_ id: Int64, at startTime: Date) async throws(StorageError) {
        try startBuild(id, at: startTime)
    }

    public var recordsGivenTimes: Bool { true }

    func startBuild(_ id: Int64, at startTime: Date) throws(StorageError) {
        try batchWriter.waitUntilWritten()
        guard
            try update(
                """
                UPDATE build SET started = true, start_time = $1
                WHERE id = $2 AND NOT finished AND ($3::text IS NULL OR owner = $3)
                """,
                [String(startTime.timeIntervalSince1970), String(id), clusterNode.withLock { $0 }]) == 1
        else {
            if try ownedElsewhere(id) {
                throw StorageError(
                    .noSuchBuild,
                    "build \(id) is no longer this daemon's: the cluster recovered it; it does not start here")
            }
            throw StorageError(.noSuchBuild, "no build with id \(id)")
        }
    }

    public func finishBuild(
        _ id: Int64, success: Bool, skipped: Bool, retval: JSONValue?, exception: JSONValue?,
        exceptionTraceback: JSONValue?
    ) throws(StorageError) {
        try finishBuild(
            id, at: Date(), success: success, skipped: skipped, retval: retval, exception: exception,
            exceptionTraceback: exceptionTraceback)
    }

    /// Still a blocking round trip (the pool has no async interface yet; docs/architecture.md).
    public func finishBuildAsync(
        _ id: Int64, at endTime: Date, success: Bool, skipped: Bool, retval: JSONValue?, exception: JSONValue?,
        exceptionTraceback: JSONValue?, notify: NotificationTrigger?
    ) async throws(StorageError) {
        try finishBuild(
            id, at: endTime, success: success, skipped: skipped, retval: retval, exception: exception,
            exceptionTraceback: exceptionTraceback, notify: notify)
    }

    func finishBuild(
        _ id: Int64, at endTime: Date, success: Bool, skipped: Bool, retval: JSONValue?, exception: JSONValue?,
        exceptionTraceback: JSONValue?, notify: NotificationTrigger? = nil
    ) throws(StorageError) {
        try batchWriter.waitUntilWritten()
        if let notify {
            // The end and the notifications it causes, in one transaction.
            let recorded = try pool.with { connection throws(StorageError) -> Bool in
                try connection.transaction { connection throws(StorageError) -> Bool in
                    let changed = try connection.execute(
                        """
                        UPDATE build SET finished = true, end_time = $1, success = $2, skipped = $3, retval = $4,
                            exception = $5, exception_tb = $6
                        WHERE id = $7 AND NOT lost AND NOT finished AND ($8::text IS NULL OR owner = $8)
                        """,
                        [
                            String(endTime.timeIntervalSince1970), Self.text(success), Self.text(skipped),
                            retval.map(Packing.pack), exception.map(Packing.pack), exceptionTraceback.map(Packing.pack),
                            String(id), clusterNode.withLock { $0 },
                        ]
                    ).affected
                    guard changed == 1 else { return false }
                    _ = try PostgresOutbox.record(notify, connection)
                    return true
                }
            }
            if recorded { return }
            // Already finished: a retry after a commit whose answer was lost. Its notifications
            // were written with it.
            if try query("SELECT finished FROM build WHERE id = $1", [String(id)]).first?["finished"] == "t" { return }
            if try ownedElsewhere(id) { return }
            throw StorageError(.noSuchBuild, "no build with id \(id)")
        }
        let changed = try update(
            """
            UPDATE build SET finished = true, end_time = $1, success = $2, skipped = $3, retval = $4, exception = $5,
                exception_tb = $6 WHERE id = $7 AND NOT lost AND ($8::text IS NULL OR owner = $8)
            """,
            [
                String(endTime.timeIntervalSince1970), Self.text(success), Self.text(skipped), retval.map(Packing.pack),
                exception.map(Packing.pack),
                exceptionTraceback.map(Packing.pack), String(id), clusterNode.withLock { $0 },
            ])
        guard changed == 1 else {
            // A build the cluster recovered (its daemon lost its lease) keeps the recovery's
            // record, and one another daemon has since claimed is that daemon's to record.
            if try ownedElsewhere(id) { return }
            throw StorageError(.noSuchBuild, "no build with id \(id)")
        }
    }

    /// Whether build `id` was taken from this daemon: the cluster recovered it (`lost`), or
    /// another daemon owns it now.
    func ownedElsewhere(_ id: Int64) throws(StorageError) -> Bool {
        guard let row = try query("SELECT lost, owner FROM build WHERE id = $1", [String(id)]).first else {
            return false
        }
        if row["lost"] == "t" { return true }
        guard let node = clusterNode.withLock({ $0 }), let owner = row["owner"] else { return false }
        return owner != node
    }
}
