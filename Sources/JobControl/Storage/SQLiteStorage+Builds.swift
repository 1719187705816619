import Foundation
import GRDB

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
        return try read("list builds") { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.build)
        }
    }

    public func jobIDs() throws(StorageError) -> [String] {
        try read("list job ids") { db in try String.fetchAll(db, sql: SQLiteQueries.jobIDs) }
    }

    public func createBuild(jobID: String, jobConfig: JSONValue, buildConfig: JSONValue) throws(StorageError) -> Int64 {
        let config: JSONValue = ["job": jobConfig, "build": buildConfig]
        return try write("create a build of '\(jobID)'") { db in
            try db.execute(sql: SQLiteQueries.insertBuild, arguments: [jobID, Packing.pack(config)])
            return db.lastInsertedRowID
        }
    }

    public func getBuild(_ id: Int64) throws(StorageError) -> Build? {
        try read("read build \(id)") { db in
            try Row.fetchOne(db, sql: SQLiteQueries.getBuild, arguments: [id]).map(Self.build)
        }
    }

    public func deleteBuild(_ id: Int64) throws(StorageError) {
        batchWriter.waitForPending()  // a state change comes after every line handed in before it
        try write("delete build \(id)") { db in
            try db.execute(sql: SQLiteQueries.deleteBuild, arguments: [id])
            guard db.changesCount == 1 else { throw StorageError(.noSuchBuild, "no build with id \(id)") }
        }
    }

    public func getLatestSuccessfulBuild(jobID: String) throws(StorageError) -> Build? {
        try read("find the latest successful build of '\(jobID)'") { db in
            try Row.fetchOne(db, sql: SQLiteQueries.latestSuccessfulBuild, arguments: [jobID]).map(Self.build)
        }
    }

    public func startBuild(_ id: Int64) throws(StorageError) {
        batchWriter.waitForPending()  // a state change comes after every line handed in before it
        try write("start build \(id)") { db in
            try db.execute(sql: SQLiteQueries.startBuild, arguments: [Date().timeIntervalSince1970, id])
            guard db.changesCount == 1 else { throw StorageError(.noSuchBuild, "no build with id \(id)") }
        }
    }

    public func finishBuild(
        _ id: Int64, success: Bool, skipped: Bool, retval: JSONValue?, exception: JSONValue?,
        exceptionTraceback: JSONValue?
    ) throws(StorageError) {
        batchWriter.waitForPending()  // every line handed in before the end is stored before it
        try write("finish build \(id)") { db in
            try db.execute(
                sql: SQLiteQueries.finishBuild,
                arguments: [
                    Date().timeIntervalSince1970, success, skipped, retval.map(Packing.pack),
                    exception.map(Packing.pack), exceptionTraceback.map(Packing.pack), id,
                ])
            guard db.changesCount == 1 else { throw StorageError(.noSuchBuild, "no build with id \(id)") }
        }
    }

    public func failUnfinishedBuilds(reason: BuildException) throws(StorageError) -> [Int64] {
        try write("finish abandoned builds") { db in
            let ids = try Int64.fetchAll(db, sql: SQLiteQueries.unfinishedBuilds)
            try db.execute(
                sql: "UPDATE build SET finished = 1, success = 0, end_time = ?, exception = ? WHERE finished = 0",
                arguments: [Date().timeIntervalSince1970, Packing.pack(reason.json)])
            return ids
        }
    }

    public func setBuildProcess(_ id: Int64, group: Int32, startTicks: Int64) throws(StorageError) {
        try write("record the process of build \(id)") { db in
            try db.execute(
                sql: "UPDATE build SET process_group = ?, process_start = ? WHERE id = ?", arguments: [group, startTicks, id])
        }
    }

    public func unfinishedBuilds() throws(StorageError) -> [UnfinishedBuild] {
        try read("list unfinished builds") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM build WHERE finished = 0 ORDER BY id").map { row in
                UnfinishedBuild(build: try Self.build(row), processGroup: row["process_group"], processStartTicks: row["process_start"])
            }
        }
    }
}
