import Dispatch
import Foundation
import JobControl

/// Storage throughput: the log and progress paths of ``SQLiteStorage`` next to the raw rate of
/// batched inserts on the same machine, same file system, same pragmas.
enum StorageBenchmark {
    static func run(rows: Int) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jc-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        print("storage benchmark: \(rows) rows per case, SQLite WAL synchronous=NORMAL in \(directory.path)")

        let raw = try rawBatchedInserts(path: directory.appendingPathComponent("raw.sqlite3").path, rows: rows)
        report("raw SQLite, prepared INSERT, 1000 rows per transaction", rows, raw)

        let storage = try SQLiteStorage(path: directory.appendingPathComponent("jc.sqlite3").path)
        try storage.install()
        for (producers, batch) in [(1, 1), (8, 1), (1, 64), (8, 64)] {
            let build = try storage.createBuild(jobID: "bench", jobConfig: [:], buildConfig: [:])
            let seconds = try concurrently(producers: producers, total: rows) { producer, count in
                var index = 0
                while index < count {
                    let size = min(batch, count - index)
                    try storage.logMessages(
                        (0..<size).map { i in
                            LogRecord(
                                buildID: build, level: 20,
                                message: "producer \(producer) line \(index + i) of the benchmark", logger: "stdout")
                        })
                    index += size
                }
            }
            report("logMessages, \(producers) producer(s), \(batch) line(s) per call", rows, seconds, raw: raw)
        }
        for (producers, batch) in [(1, 1), (1, 16), (8, 16)] {
            let build = try storage.createBuild(jobID: "bench", jobConfig: [:], buildConfig: [:])
            let seconds = try concurrently(producers: producers, total: rows) { producer, count in
                var index = 0
                while index < count {
                    let size = min(batch, count - index)
                    storage.enqueueLogMessages(
                        (0..<size).map { i in
                            LogRecord(
                                buildID: build, level: 20,
                                message: "producer \(producer) line \(index + i) of the benchmark", logger: "stdout")
                        })
                    index += size
                }
                try storage.flush()
            }
            report(
                "enqueueLogMessages + flush, \(producers) producer(s), \(batch) line(s)/call", rows, seconds, raw: raw)
        }
        for producers in [1, 8] {
            let build = try storage.createBuild(jobID: "bench", jobConfig: [:], buildConfig: [:])
            let seconds = try concurrently(producers: producers, total: rows) { producer, count in
                for index in 0..<count {
                    try storage.reportBuildProgress(
                        build, current: Int64(index), total: Int64(count), group: "p\(producer)::file")
                }
            }
            report("reportBuildProgress, \(producers) producer(s), 1 update per call", rows, seconds, raw: raw)
        }
    }

    static func rawBatchedInserts(path: String, rows: Int) throws -> Double {
        // The same connection settings as the storage's (WAL, synchronous = NORMAL), none of its code.
        let pool = try SQLiteDatabase(path: path, busyTimeout: 10)
        try pool.write { db in
            try db.execute(
                sql:
                    "CREATE TABLE log (id INTEGER PRIMARY KEY AUTOINCREMENT, build_id INTEGER, created REAL NOT NULL, level INTEGER NOT NULL, record TEXT NOT NULL, exception_tb TEXT)"
            )
            try db.execute(sql: "CREATE INDEX log_build_id ON log (build_id, id)")
            try db.execute(sql: "CREATE INDEX log_created ON log (created)")
        }
        let start = DispatchTime.now()
        var index = 0
        while index < rows {
            let end = min(index + 1000, rows)
            try pool.write { db in
                let statement = try db.prepare(
                    sql: "INSERT INTO log (build_id, created, level, record) VALUES (?, ?, ?, ?)")
                for i in index..<end {
                    let record =
                        #"{"level_name":"INFO","logger":"stdout","message":"producer 0 line \#(i) of the benchmark"}"#
                    try statement.execute(arguments: [1, Date().timeIntervalSince1970, 20, record])
                }
            }
            index = end
        }
        return seconds(since: start)
    }

    /// Runs `work` on `producers` threads, splitting `total` between them; returns the wall time.
    static func concurrently(producers: Int, total: Int, _ work: @escaping @Sendable (Int, Int) throws -> Void) throws
        -> Double
    {
        let group = DispatchGroup()
        let failure = ErrorBox()
        let start = DispatchTime.now()
        for producer in 0..<producers {
            let count = total / producers + (producer < total % producers ? 1 : 0)
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                do { try work(producer, count) } catch { failure.set(error) }
            }
        }
        group.wait()
        if let error = failure.get() { throw error }
        return seconds(since: start)
    }

    static func seconds(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }

    static func report(_ name: String, _ rows: Int, _ seconds: Double, raw: Double? = nil) {
        let rate = Double(rows) / seconds
        var line = String(format: "%-62@ %10.0f rows/s  (%6.2f s)", name as NSString, rate, seconds)
        if let raw { line += String(format: "  %5.1f%% of raw", 100 * raw / seconds) }
        print(line)
    }
}

/// The first error any producer thread hit. Guarded by its lock.
final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private var error: (any Error)?
    func set(_ error: any Error) { lock.withLock { if self.error == nil { self.error = error } } }
    func get() -> (any Error)? { lock.withLock { error } }
}
