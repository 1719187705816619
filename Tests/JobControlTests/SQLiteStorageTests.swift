import Foundation
import Testing

@testable import JobControl

/// What is particular to the SQLite backend: the file, the schema's history, query plans, bad files.
@Suite struct SQLiteStorageTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    func temporaryPath(_ name: String = "db.sqlite3") -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("jc-sqlite-\(UUID().uuidString)")
            .appendingPathComponent(name).path
    }

    @Test func fileDatabaseUsesWALAndSurvivesReopen() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        do {
            let storage = try SQLiteStorage(path: path)
            try storage.install()
            try storage.finishedBuild("a")
            let mode = try storage.writer.read { try $0.fetchValue(String.self, sql: "PRAGMA journal_mode") }
            #expect(mode == "wal")
        }
        let reopened = try StorageFactory.open(url: "sqlite://" + path)
        try reopened.install()
        #expect(try reopened.jobIDs() == ["a"])
    }

    @Test func aDatabaseWrittenBySchemaV1IsUpgraded() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: Self.fixtures.appendingPathComponent("schema-v1.sqlite3").path, toPath: path)
        let storage = try SQLiteStorage(path: path)
        try storage.install()
        let migrations = try storage.writer.read {
            try $0.fetchColumn(String.self, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier")
        }
        #expect(
            migrations == [
                "v1-build-progress-log", "v2-latest-successful-index", "v3-schedule", "v4-build-process",
                "v5-build-containment", "v6-notifications",
            ])
        #expect(try storage.occurrences(jobID: nil, outcome: nil, limit: 1).isEmpty)
        // The v1 data is all there and reads through the current code.
        let builds = try storage.getJobBuilds(jobID: nil, filter: BuildFilter(), order: .ascending, limit: 10)
        #expect(builds.map(\.jobID) == ["ok", "bad", "dependent"])
        #expect(builds.map(\.state) == [.successful, .failed, .successful])
        #expect(builds[1].exception?["exit_status"] == 2)
        #expect(builds[2].config["build"]?["dependency_builds"]?["ok"] == 1)
        #expect(try storage.logs(1).map(\.message).contains("line one"))
        #expect(try storage.getLatestSuccessfulBuild(jobID: "ok")?.id == 1)
        // And it takes new writes.
        try storage.finishedBuild("ok")
        #expect(try storage.integrityCheck() == "ok")
    }

    @Test func everyHotQueryUsesAnIndex() throws {
        let storage = try SQLiteStorage(path: nil)
        try storage.install()
        // The hot queries themselves, not an empty list: builds by job, unfinished builds, logs
        // by build, the latest success at least.
        #expect(SQLiteQueries.planned.count >= 10, "\(SQLiteQueries.planned.map(\.0))")
        var searched = 0
        for (sql, arguments) in SQLiteQueries.planned {
            let plan = try storage.writer.read { db in
                try db.fetchAll(
                    sql: "EXPLAIN QUERY PLAN " + sql,
                    arguments: SQLiteArguments(arguments.map { $0 as? any SQLiteBindable })
                ).map { $0["detail"] as String }
            }
            #expect(!plan.isEmpty, "no plan for '\(sql)'")
            for step in plan where step.hasPrefix("SCAN ") {
                #expect(step.contains(" USING "), "full table scan in '\(sql)': \(plan)")
            }
            if plan.contains(where: { $0.hasPrefix("SEARCH ") && $0.contains(" USING ") }) { searched += 1 }
        }
        #expect(searched >= 3, "most hot queries search an index")
    }

    @Test func aFileThatIsNotADatabaseIsRefusedWithItsPath() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: StorageError.self) { try SQLiteStorage(path: path).install() }
        #expect(error?.description.contains(path) == true)
        #expect(
            error?.description.contains("not an SQLite database") == true
                || error?.description.contains("not a database") == true)
        // Nothing was written to it.
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(repeating: 0x41, count: 8192))
    }

    @Test func aDamagedDatabaseIsRefusedWithItsPath() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: Self.fixtures.appendingPathComponent("schema-v1.sqlite3").path, toPath: path)
        // Overwrite the schema page's content (the fixture has no WAL, so the file is all there is).
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seek(toOffset: 100)
        try handle.write(contentsOf: Data(repeating: 0xFF, count: 3000))
        try handle.close()
        let error = #expect(throws: StorageError.self) {
            let storage = try SQLiteStorage(path: path)
            try storage.install()
            _ = try storage.jobIDs()
        }
        #expect(error?.description.contains(path) == true)
    }

    @Test func storageErrorsShowTheFailingSQL() throws {
        let storage = try SQLiteStorage(path: nil)
        try storage.install()
        let error = #expect(throws: StorageError.self) {
            try storage.write("do something impossible") { db in try db.execute(sql: "INSERT INTO nowhere VALUES (1)") }
        }
        #expect(error?.sql == "INSERT INTO nowhere VALUES (1)")
        #expect(error?.description.contains("no such table: nowhere") == true)
    }
}

@Suite struct RetentionTests {
    @Test func defaultLogRetentionBandsFollowTheSeed() {
        let bands = LogRetention.default.bands
        #expect(bands.map(\.upTo) == [10, 20, 30, 40, 50, nil])
        #expect(bands.map { $0.maxAge / 86_400 } == [15, 30, 90, 180, 180, 365])
        #expect(bands.map(\.above) == [nil, 10, 20, 30, 40, 50])
    }

    @Test(arguments: Backend.allCases) func prunerAppliesConfigurationPolicies(_ backend: Backend) throws {
        let storage = try backend.make()
        let config = try ConfigLoader.parse(
            yaml: """
                log_retention: {debug: 1d, info: 10d, warning: never, any: 100d}
                build_retention: {keep_last: 1}
                jobs:
                  - {id: a, command: x}
                  - {id: b, command: x, build_retention: {keep_last: 3}}
                """, file: "t.yaml")
        #expect(config.logRetention.maxAgeByLevel[.warning] == .some(nil))
        for _ in 0..<3 { try storage.finishedBuild("a") }
        let build = try storage.finishedBuild("a")  // the latest successful: always kept
        for _ in 0..<4 { try storage.finishedBuild("b") }
        for _ in 0..<2 { try storage.finishedBuild("removed-job") }
        let now = Date()
        let day = 86_400.0
        try storage.logMessages([
            LogRecord(buildID: build, created: now - 2 * day, level: 10, message: "old debug", logger: "t"),
            LogRecord(buildID: build, created: now - 2 * day, level: 20, message: "recent info", logger: "t"),
            LogRecord(buildID: build, created: now - 20 * day, level: 20, message: "old info", logger: "t"),
            LogRecord(buildID: build, created: now - 50 * day, level: 30, message: "kept warning", logger: "t"),
            LogRecord(buildID: build, created: now - 200 * day, level: 30, message: "ancient warning", logger: "t"),
            LogRecord(buildID: build, created: now - 200 * day, level: 50, message: "ancient critical", logger: "t"),
        ])
        let dry = try Pruner.run(config: config, storage: storage, now: now, dryRun: true)
        #expect(dry.logRecords == 3)
        #expect(try storage.iterLogMessages(LogQuery()).count == 6)
        let done = try Pruner.run(config: config, storage: storage, now: now, dryRun: false)
        #expect(done == dry)
        #expect(done.builds.mapValues(\.count) == ["a": 3, "b": 1, "removed-job": 1])
        #expect(
            try storage.iterLogMessages(LogQuery()).map(\.message).sorted() == [
                "ancient warning", "kept warning", "recent info",
            ])
    }
}

@Suite struct SQLiteLockingTests {
    /// Another process (here: another connection) holding the write lock for a moment makes our
    /// writes wait (busy timeout), not fail with "database is locked".
    @Test func aWriterElsewhereMakesUsWaitNotFail() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jc-lock-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("db.sqlite3").path
        let storage = try SQLiteStorage(path: path)
        try storage.install()
        let build = try storage.createBuild(jobID: "a", jobConfig: [:], buildConfig: [:])
        let other = try SQLiteDatabase(path: path, busyTimeout: 10)
        let (locked, lockedContinuation) = AsyncStream<ContinuousClock.Instant>.makeStream()
        let holder = Task.detached {
            try other.writeWithoutTransaction { db in
                try db.execute(sql: "BEGIN IMMEDIATE")
                lockedContinuation.yield(.now)
                Thread.sleep(forTimeInterval: 0.3)  // hold the lock; what is tested is that we wait
                try db.execute(sql: "COMMIT")
            }
        }
        var lockTaken = ContinuousClock.now
        for await instant in locked {
            lockTaken = instant
            break
        }
        try storage.logMessage(LogRecord(buildID: build, level: 20, message: "after the lock", logger: "t"))
        // It waited for the other writer, which held the lock for 0.3 s from `lockTaken`: the write
        // cannot have been committed before then (whenever this task got to run).
        #expect(ContinuousClock.now - lockTaken >= .milliseconds(300), "the write did not wait for the lock")
        try storage.finishBuild(
            build, success: true, skipped: false, retval: nil, exception: nil, exceptionTraceback: nil)
        try await holder.value
        #expect(try storage.logs(build).map(\.message) == ["after the lock"])
    }
}
