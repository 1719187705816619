import Dispatch
import FoundationEssentials
import Glibc

extension SQLiteStorage {
    public func pruneBuilds(jobID: String, policy: BuildRetention, now: Date, dryRun: Bool) throws(StorageError)
        -> [Int64]
    {
        guard !policy.isEmpty else { return [] }
        let body = { (db: SQLiteConnection) throws -> [Int64] in
            // Newest first; the position in this list is what keep_last counts.
            let finished = try db.fetchAll(
                sql: "SELECT id, end_time FROM build WHERE job_id = ? AND finished = 1 ORDER BY id DESC",
                arguments: [jobID])
            let latestSuccessful = try db.fetchValue(
                Int64.self,
                sql:
                    "SELECT id FROM build WHERE job_id = ? AND finished = 1 AND success = 1 AND skipped = 0 ORDER BY id DESC LIMIT 1",
                arguments: [jobID])
            // Builds other builds pinned as dependencies stay: their retvals are those builds' inputs.
            let pinned = Set(
                try db.fetchColumn(
                    Int64.self,
                    sql: """
                        SELECT DISTINCT CAST(pin.value AS INTEGER) FROM build, json_each(build.config, '$.build.dependency_builds') AS pin
                        WHERE pin.type = 'integer'
                        """))
            let cutoff = policy.maxAge.map { now.timeIntervalSince1970 - $0 }
            var doomed: [Int64] = []
            for (position, row) in finished.enumerated() {
                let id: Int64 = row["id"]
                let endTime: Double? = row["end_time"]
                let beyondCount = policy.keepLast.map { position >= $0 } ?? false
                let tooOld = cutoff.map { (endTime ?? 0) < $0 } ?? false
                guard beyondCount || tooOld, id != latestSuccessful, !pinned.contains(id) else { continue }
                doomed.append(id)
            }
            if !dryRun {
                let statement = try db.cachedStatement(sql: SQLiteQueries.deleteBuild)
                for id in doomed { try statement.execute(arguments: [id]) }
            }
            return doomed
        }
        if dryRun { return try read("list prunable builds of '\(jobID)'", body) }
        return try write("prune builds of '\(jobID)'", body)
    }
}
