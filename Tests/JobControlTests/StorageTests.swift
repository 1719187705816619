import Foundation
import Testing

@testable import JobControl

@Suite struct StorageTests {
    static func memory() throws -> any Storage {
        let storage = try StorageFactory.open(url: "sqlite::memory:")
        try storage.install()
        return storage
    }

    @Test func buildLifecycle() throws {
        let storage = try Self.memory()
        let id = try storage.createBuild(jobID: "a", config: ["job": ["id": "a"]])
        var build = try #require(try storage.getBuild(id))
        #expect(build.state == .created)
        #expect(build.config["job"]?["id"] == "a")
        try storage.startBuild(id)
        build = try #require(try storage.getBuild(id))
        #expect(build.state == .running)
        #expect(build.startTime != nil)
        try storage.finishBuild(id, success: true, skipped: false, retval: ["answer": 42], exception: nil, exceptionTraceback: nil)
        build = try #require(try storage.getBuild(id))
        #expect(build.state == .successful)
        #expect(build.retval == ["answer": 42])
        #expect(build.endTime! >= build.startTime!)
        #expect(try storage.getBuild(id + 100) == nil)
        #expect(throws: StorageError.self) { try storage.startBuild(id + 100) }
    }

    @Test func jobBuildsFilterAndOrder() throws {
        let storage = try Self.memory()
        var ids: [Int64] = []
        for success in [true, false, true] {
            let id = try storage.createBuild(jobID: "a", config: [:])
            try storage.startBuild(id)
            try storage.finishBuild(id, success: success, skipped: false, retval: nil, exception: nil, exceptionTraceback: nil)
            ids.append(id)
        }
        _ = try storage.createBuild(jobID: "b", config: [:])
        #expect(try storage.getJobBuilds(jobID: "a", filter: BuildFilter(), order: .ascending, limit: 10).map(\.id) == ids)
        #expect(try storage.getJobBuilds(jobID: "a", filter: BuildFilter(), order: .descending, limit: 2).map(\.id) == [ids[2], ids[1]])
        #expect(try storage.getJobBuilds(jobID: "a", filter: BuildFilter(success: false), order: .ascending, limit: 10).map(\.id) == [ids[1]])
        #expect(try storage.getJobBuilds(jobID: nil, filter: BuildFilter(started: false), order: .ascending, limit: 10).map(\.jobID) == ["b"])
        #expect(try storage.getLatestSuccessfulBuild(jobID: "a")?.id == ids[2])
        #expect(try storage.getLatestSuccessfulBuild(jobID: "b") == nil)
    }

    @Test func logMessagesByBuildAndLevel() throws {
        let storage = try Self.memory()
        let id = try storage.createBuild(jobID: "a", config: [:])
        try storage.logMessages([
            LogRecord(buildID: id, level: LogLevel.debug.rawValue, message: "d", logger: "x"),
            LogRecord(buildID: id, level: LogLevel.info.rawValue, message: "i", logger: "stdout"),
            LogRecord(buildID: id, level: LogLevel.warning.rawValue, message: "w ü \"quoted\"", logger: "stderr"),
        ])
        let all = try storage.iterLogMessages(buildID: id, minLevel: nil, limit: nil)
        #expect(all.map(\.message) == ["d", "i", "w ü \"quoted\""])
        #expect(all[2].logger == "stderr")
        let warnings = try storage.iterLogMessages(buildID: id, minLevel: LogLevel.info.rawValue, limit: nil)
        #expect(warnings.map(\.message) == ["i", "w ü \"quoted\""])
        #expect(try storage.iterLogMessages(buildID: id + 1, minLevel: nil, limit: nil).isEmpty)
    }

    @Test func unfinishedBuildsAreFailedAtStart() throws {
        let storage = try Self.memory()
        let running = try storage.createBuild(jobID: "a", config: [:])
        try storage.startBuild(running)
        let queued = try storage.createBuild(jobID: "a", config: [:])
        let done = try storage.createBuild(jobID: "a", config: [:])
        try storage.startBuild(done)
        try storage.finishBuild(done, success: true, skipped: false, retval: nil, exception: nil, exceptionTraceback: nil)
        let ids = try storage.failUnfinishedBuilds(reason: BuildException(type: "DaemonRestarted", message: "gone"))
        #expect(ids == [running, queued])
        let build = try #require(try storage.getBuild(running))
        #expect(build.state == .failed)
        #expect(build.exception?["type"] == "DaemonRestarted")
        #expect(try storage.getBuild(done)?.state == .successful)
    }

    @Test func fileDatabaseUsesWALAndSurvivesReopen() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jc-storage-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("sub/db.sqlite3").path
        do {
            let storage = try SQLiteStorage(path: path)
            try storage.install()
            _ = try storage.createBuild(jobID: "a", config: [:])
            let mode = try storage.writer.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
            #expect(mode == "wal")
        }
        let reopened = try StorageFactory.open(url: "sqlite://" + path)
        try reopened.install()
        #expect(try reopened.getJobBuilds(jobID: "a", filter: BuildFilter(), order: .ascending, limit: 5).count == 1)
    }

    @Test func aFileThatIsNotADatabaseIsRefusedWithItsPath() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("jc-notdb-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: path))
        do {
            let storage = try SQLiteStorage(path: path)
            try storage.install()
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains(path))
        }
    }

    @Test func badURLs() {
        #expect(throws: StorageError.self) { try StorageFactory.open(url: "mysql://x") }
        #expect(throws: StorageError.self) { try StorageFactory.open(url: "sqlite://relative/path") }
    }
}
