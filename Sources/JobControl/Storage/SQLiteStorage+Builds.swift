import Dispatch
import FoundationEssentials
import Glibc

extension SQLiteStorage {
    public func getJobBuilds(jobID: String?, filter: BuildFilter, order: BuildOrder, limit: Int) throws(StorageError)
        -> [Build]
    {
        var filterSQL = SQLWhere()
        filterSQL.add("job_id = ?", jobID)
        filterSQL.add("started = ?", filter.started)
        filterSQL.add("finished = ?", filter.finished)
        filterSQL.add("success = ?", filter.success)
        filterSQL.add("skipped = ?", filter.skipped)
        var arguments = filterSQL.arguments
        let sql = "SELECT * FROM build \(filterSQL.clause) ORDER BY id \(order == .ascending ? "ASC" : "DESC") LIMIT ?"
        arguments += [limit]
        return try readStatement("list builds") { db in
            try db.cachedStatement(sql: sql).fetchAll(arguments: arguments).map(Self.build)
        }
    }

    public func jobIDs() throws(StorageError) -> [String] {
        try read("list job ids") { db in try db.fetchColumn(String.self, sql: SQLiteQueries.jobIDs) }
    }

    public func createBuild(jobID: String, jobConfig: JSONValue, buildConfig: JSONValue) throws(StorageError) -> Int64 {
        let config: JSONValue = ["job": jobConfig, "build": buildConfig]
        return try write("create a build of '\(jobID)'") { db in
            try db.cachedStatement(sql: SQLiteQueries.insertBuild).execute(arguments: [jobID, Packing.pack(config)])
            return db.lastInsertedRowID
        }
    }

    public func createBuilds(_ builds: [(jobID: String, jobConfig: JSONValue, buildConfig: JSONValue)])
        throws(StorageError) -> [Int64]
    {
        try write("create \(builds.count) builds") { db in
            let statement = try db.cachedStatement(sql: SQLiteQueries.insertBuild)
            return try builds.map { build in
                let config: JSONValue = ["job": build.jobConfig, "build": build.buildConfig]
                try statement.execute(arguments: [build.jobID, Packing.pack(config)])
                return db.lastInsertedRowID
            }
        }
    }

    public func getBuild(_ id: Int64) throws(StorageError) -> Build? {
        try readStatement("read build \(id)") { db in
            try db.cachedStatement(sql: SQLiteQueries.getBuild).fetchOne(arguments: [id]).map(Self.build)
        }
    }

    public func deleteBuild(_ id: Int64) throws(StorageError) {
        // After every line handed in before it; while the writer holds writes through an
        // outage, refused at once (try again later) rather than blocking a thread for the hold.
        try batchWriter.waitUntilWritten()
        try write("delete build \(id)") { db in
            try db.execute(sql: SQLiteQueries.deleteBuild, arguments: [id])
            guard db.changesCount == 1 else { throw StorageError(.noSuchBuild, "no build with id \(id)") }
        }
    }

    public func getLatestSuccessfulBuild(jobID: String) throws(StorageError) -> Build? {
        try readStatement("find the latest successful build of '\(jobID)'") { db in
            try db.cachedStatement(sql: SQLiteQueries.latestSuccessfulBuild).fetchOne(arguments: [jobID]).map(
                Self.build)
        }
    }

    public func startBuild(_ id: Int64) throws(StorageError) {
        // Through the batch writer: after every line handed in before it, in a shared commit.
        try batchWriter.submit([.startBuild(id: id, time: Date().timeIntervalSince1970)])
    }

    public func finishBuild(
        _ id: Int64, success: Bool, skipped: Bool, retval: JSONValue?, exception: JSONValue?,
        exceptionTraceback: JSONValue?
    ) throws(StorageError) {
        // Every line handed in before the end is stored before it, in the same or an earlier commit.
        try batchWriter.submit([
            .finishBuild(
                id: id, time: Date().timeIntervalSince1970, success: success, skipped: skipped,
                retval: retval.map(Packing.pack),
                exception: exception.map(Packing.pack), traceback: exceptionTraceback.map(Packing.pack), notify: nil)
        ])
    }

    public func startBuildAsync(_ id: Int64, at startTime: Date) async throws(StorageError) {
        try await batchWriter.submitAsync([.startBuild(id: id, time: startTime.timeIntervalSince1970)])
    }

    public var recordsGivenTimes: Bool { true }

    public func finishBuildAsync(
        _ id: Int64, at endTime: Date, success: Bool, skipped: Bool, retval: JSONValue?, exception: JSONValue?,
        exceptionTraceback: JSONValue?, notify: NotificationTrigger?
    ) async throws(StorageError) {
        try await batchWriter.submitAsync([
            .finishBuild(
                id: id, time: endTime.timeIntervalSince1970, success: success, skipped: skipped,
                retval: retval.map(Packing.pack),
                exception: exception.map(Packing.pack), traceback: exceptionTraceback.map(Packing.pack),
                notify: notify)
        ])
    }

    public func failUnfinishedBuilds(reason: BuildException) throws(StorageError) -> [Int64] {
        try write("finish abandoned builds") { db in
            let ids = try db.fetchColumn(Int64.self, sql: SQLiteQueries.unfinishedBuilds)
            try db.execute(
                sql: "UPDATE build SET finished = 1, success = 0, end_time = ?, exception = ? WHERE finished = 0",
                arguments: [Date().timeIntervalSince1970, Packing.pack(reason.json)])
            return ids
        }
    }

    public func setBuildProcess(_ id: Int64, group: Int32, startTicks: Int64, cgroup: [String]?)
        throws(StorageError)
    {
        // Enqueued: committed within milliseconds with the build's first lines, not worth a
        // transaction of its own on every build's hot path.
        batchWriter.enqueue([
            .buildProcess(id: id, group: group, startTicks: startTicks, cgroup: CgroupColumn.text(cgroup))
        ])
    }

    public func setBuildUsage(_ id: Int64, _ usage: ResourceUsage) throws(StorageError) {
        batchWriter.enqueue([.buildUsage(id: id, usage: Packing.pack(usage.json))])
    }

    public func unfinishedBuilds() throws(StorageError) -> [UnfinishedBuild] {
        try read("list unfinished builds") { db in
            try db.fetchAll(sql: "SELECT * FROM build WHERE finished = 0 ORDER BY id").map { row in
                UnfinishedBuild(
                    build: try Self.build(row), processGroup: row["process_group"],
                    processStartTicks: row["process_start"], cgroup: CgroupColumn.paths(row["cgroup"]))
            }
        }
    }
}
