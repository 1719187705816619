import Dispatch
import FoundationEssentials
import Glibc

extension SQLiteStorage {
    public func logMessages(_ records: [LogRecord]) throws(StorageError) {
        try batchWriter.submit(records.map { .log($0) })
    }

    public func logMessagesAsync(_ records: [LogRecord]) async throws(StorageError) {
        try await batchWriter.submitAsync(records.map { .log($0) })
    }

    public func reportBuildProgressAsync(_ buildID: Int64, _ reports: [ProgressReport]) async throws(StorageError) {
        try await batchWriter.submitAsync(reports.map { .progress(buildID: buildID, $0) })
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

    public func reportBuildProgress(_ buildID: Int64, _ reports: [ProgressReport]) throws(StorageError) {
        try batchWriter.submit(reports.map { .progress(buildID: buildID, $0) })
    }

    public func getBuildProgressInfo(_ buildID: Int64) throws(StorageError) -> [ProgressInfo] {
        let rows = try readStatement("read progress of build \(buildID)") { db in
            try db.cachedStatement(sql: SQLiteQueries.buildProgress).fetchAll(arguments: [buildID])
        }
        var reports: [ProgressReport] = []
        for row in rows {
            reports.append(
                try ProgressReport(
                    group: ProgressGroup(name: row["group_name"]), current: row["current"], total: row["total"],
                    statusLine: row["status_line"]))
        }
        return ProgressInfo.tree(reports)
    }

    public func iterLogMessages(_ query: LogQuery) throws(StorageError) -> [LogRecord] {
        var filter = SQLWhere()
        filter.add("build_id = ?", query.buildID)
        filter.add("created >= ?", query.minDate?.timeIntervalSince1970)
        filter.add("created <= ?", query.maxDate?.timeIntervalSince1970)
        filter.add("level >= ?", query.minLevel)
        filter.add("id > ?", query.afterID)
        var arguments = filter.arguments
        var sql = "SELECT * FROM log \(filter.clause) ORDER BY id\(query.newestFirst ? " DESC" : "")"
        if let limit = query.limit {
            sql += " LIMIT ?"
            arguments += [limit]
        }
        return try readStatement("read log records") { db in
            try db.cachedStatement(sql: sql).fetchAll(arguments: arguments).map(Self.logRecord)
        }
    }

    public func pruneLogMessages(_ filter: LogPruneFilter, dryRun: Bool) throws(StorageError) -> Int {
        var condition = SQLWhere()
        condition.add("build_id IN (SELECT id FROM build WHERE job_id = ?)", filter.jobID)
        condition.add("build_id = ?", filter.buildID)
        condition.add("created < ?", filter.maxAge.map { filter.now.timeIntervalSince1970 - $0 })
        condition.add("level <= ?", filter.level)
        condition.add("level > ?", filter.levelAbove)
        let (whereClause, arguments) = (condition.clause, condition.arguments)
        if dryRun {
            return try read("count prunable log records") { db in
                try db.fetchValue(Int.self, sql: "SELECT count(*) FROM log \(whereClause)", arguments: arguments) ?? 0
            }
        }
        return try write("prune log records") { db in
            try db.execute(sql: "DELETE FROM log \(whereClause)", arguments: arguments)
            return db.changesCount
        }
    }

    /// At most this many enqueued log and progress writes wait at a time (a few MB).
    static let maxQueuedWrites = 20_000

    public func waitForWriteCapacity() async {
        await batchWriter.waitForCapacity(limit: Self.maxQueuedWrites)
    }
}
