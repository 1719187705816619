/// The statements the SQLite backend runs on its hot paths, in one place so a test can check each
/// one's query plan (`EXPLAIN QUERY PLAN`) uses an index.
enum SQLiteQueries {
    static let insertBuild = "INSERT INTO build (job_id, config) VALUES (?, ?)"
    static let getBuild = "SELECT * FROM build WHERE id = ?"
    static let startBuild = "UPDATE build SET started = 1, start_time = ? WHERE id = ?"
    static let finishBuild = """
        UPDATE build SET finished = 1, end_time = ?, success = ?, skipped = ?, retval = ?, exception = ?,
            exception_tb = ?
        WHERE id = ?
        """
    static let deleteBuild = "DELETE FROM build WHERE id = ?"
    /// Literal conditions, so the partial index `build_job_success` applies.
    static let latestSuccessfulBuild = """
        SELECT * FROM build WHERE job_id = ? AND finished = 1 AND success = 1 AND skipped = 0
        ORDER BY id DESC LIMIT 1
        """
    static let jobBuilds = "SELECT * FROM build WHERE job_id = ? ORDER BY id DESC LIMIT ?"
    static let jobIDs = "SELECT DISTINCT job_id FROM build ORDER BY job_id"
    static let unfinishedBuilds = "SELECT id FROM build WHERE finished = 0 ORDER BY id"

    static let insertLog = "INSERT INTO log (build_id, created, level, record, exception_tb) VALUES (?, ?, ?, ?, ?)"
    static let buildLogs = "SELECT * FROM log WHERE build_id = ? AND id > ? ORDER BY id LIMIT ?"
    static let logsByDate = "SELECT * FROM log WHERE created >= ? AND created <= ? ORDER BY id"
    static let pruneLogsByAge = "DELETE FROM log WHERE created < ? AND level <= ?"
    static let pruneLogsOfJob =
        "DELETE FROM log WHERE build_id IN (SELECT id FROM build WHERE job_id = ?) AND created < ?"

    static let upsertProgress = """
        INSERT INTO build_progress (build_id, group_name, current, total, status_line) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (build_id, group_name) DO UPDATE SET
            current = excluded.current, total = excluded.total, status_line = excluded.status_line
        """
    static let buildProgress = "SELECT * FROM build_progress WHERE build_id = ?"

    /// Each hot-path query with sample arguments, for the query-plan test.
    static let planned: [(sql: String, arguments: [any Sendable])] = [
        (getBuild, [1]), (startBuild, [0.0, 1]), (deleteBuild, [1]), (latestSuccessfulBuild, ["job"]),
        (jobBuilds, ["job", 10]), (jobIDs, []), (unfinishedBuilds, []), (buildLogs, [1, 0, 10]),
        (logsByDate, [0.0, 1.0]), (pruneLogsByAge, [0.0, 20]), (pruneLogsOfJob, ["job", 0.0]), (buildProgress, [1]),
    ]
}
