import Foundation
import JobControl

/// A SQLite database holding a long build history, written by raw inserts (a million builds in a
/// few seconds): what the history-scale and dashboard benchmarks run a daemon on. Removed with
/// its WAL, lock and reserve files by ``remove()``.
struct HistoryDatabase {
    let path: String

    /// `builds` finished builds, one a second from 2023-11-14, of jobs `job0` … `job(jobs-1)` in
    /// turn; every `failEvery`-th build failed (with an exception), the others succeeded.
    init(name: String, builds: Int, jobs: Int, failEvery: Int? = nil) async throws {
        path =
            FileManager.default.temporaryDirectory.appendingPathComponent("jc-bench-\(name)-\(getpid()).sqlite3")
            .path
        let storage = try SQLiteStorage(path: path)
        try storage.install()
        let database = try SQLiteDatabase(path: path, busyTimeout: 10)
        try database.write { db in
            let statement = try db.prepare(
                sql:
                    "INSERT INTO build (job_id, start_time, end_time, started, finished, success, config, exception) VALUES (?, ?, ?, 1, 1, ?, '{}', ?)"
            )
            for index in 0..<builds {
                let time = 1_700_000_000.0 + Double(index)
                let failed = failEvery.map { index % $0 == 0 } ?? false
                try statement.execute(arguments: [
                    "job\(index % jobs)", time, time + 1, failed ? 0 : 1,
                    failed ? #"{"type": "CommandFailed", "message": "exit status 1"}"# : nil,
                ])
            }
        }
    }

    func remove() {
        for suffix in ["", "-wal", "-shm", ".lock", ".reserve"] {
            try? FileManager.default.removeItem(atPath: path + suffix)
        }
    }
}
