import Foundation
import Testing

@testable import JobControl

/// Every storage backend, fresh and installed, for the conformance suite. PostgreSQL joins this
/// list when it arrives; the suite itself does not change.
enum Backend: String, CaseIterable, CustomTestStringConvertible {
    case sqliteMemory
    case sqliteFile
    /// A PostgreSQL server named by `JOBCONTROL_TEST_PG_URL` (scripts/test.sh starts one); each
    /// test gets a schema of its own.
    case postgres

    static var allCases: [Backend] {
        [.sqliteMemory, .sqliteFile] + (postgresURL == nil ? [] : [.postgres])
    }

    static let postgresURL = ProcessInfo.processInfo.environment["JOBCONTROL_TEST_PG_URL"]
    static let noPostgres: Comment = "no PostgreSQL server: set JOBCONTROL_TEST_PG_URL (scripts/test.sh starts one)"

    var testDescription: String { rawValue }

    func make() throws -> any Storage {
        let storage: any Storage
        switch self {
        case .sqliteMemory:
            storage = try StorageFactory.open(url: "sqlite::memory:")
        case .sqliteFile:
            let path = ConformanceFiles.root + "/\(UUID().uuidString)/db.sqlite3"
            storage = try StorageFactory.open(url: "sqlite://" + path)
        case .postgres:
            let schema = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
            storage = try PostgresStorage(url: Self.postgresURL!, schema: schema)
        }
        try storage.install()
        return storage
    }
}

/// Where the file-backed databases live: one directory per test process, removed when the process
/// exits. A storage has no close and each test holds its own to the end, so no test can remove its
/// files itself; before this, every run left about 60 databases (600 KB each) in /tmp.
enum ConformanceFiles {
    static let root: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("jc-conformance-\(getpid())").path
        atexit {
            // A storage still closing deletes its -wal file under Foundation's removal, which then
            // stops at the missing file: try again.
            for _ in 0..<3 where FileManager.default.fileExists(atPath: ConformanceFiles.root) {
                try? FileManager.default.removeItem(atPath: ConformanceFiles.root)
            }
        }
        return path
    }()
}

extension Storage {
    @discardableResult
    func finishedBuild(
        _ job: String, success: Bool = true, skipped: Bool = false, retval: JSONValue? = nil,
        pins: [String: Int64] = [:]
    )
        throws -> Int64
    {
        let id = try createBuild(
            jobID: job, jobConfig: ["id": .string(job)],
            buildConfig: ["dependency_builds": .object(pins.mapValues { .int($0) })])
        try startBuild(id)
        try finishBuild(id, success: success, skipped: skipped, retval: retval, exception: nil, exceptionTraceback: nil)
        return id
    }

    func logs(_ build: Int64) throws -> [LogRecord] {
        try iterLogMessages(LogQuery(buildID: build))
    }
}

/// Whether the PostgreSQL backend is tested at all: under `scripts/test.sh` (which sets
/// `JOBCONTROL_TEST_REQUIRE_PG`) a missing or unreachable server fails the run; under a plain
/// `swift test` without one, the PostgreSQL cases are recorded as skipped, with the reason.
@Suite struct PostgresAvailabilityTests {
    @Test(
        .enabled(
            if: ProcessInfo.processInfo.environment["JOBCONTROL_TEST_REQUIRE_PG"] != nil,
            "PostgreSQL is optional outside scripts/test.sh"))
    func theServerTheScriptStartedIsThere() throws {
        let url = try #require(
            Backend.postgresURL, "scripts/test.sh ran without a PostgreSQL URL: the PostgreSQL cases would vanish")
        _ = try PostgresStorage(url: url)
    }

    @Test(.enabled(if: Backend.postgresURL != nil, Backend.noPostgres))
    func theConformanceSuiteRunsOnPostgreSQL() {
        #expect(Backend.allCases.contains(.postgres))
    }
}

/// The seed's StorageBase contract, run against every backend.
@Suite struct StorageConformanceTests {
    /// Lines handed in without waiting are committed before the build's next state change, with
    /// no flush in between: whoever sees the build started or ended sees every line before it.
    @Test(arguments: Backend.allCases) func enqueuedLinesCommitBeforeTheNextStateChange(_ backend: Backend) throws {
        let storage = try backend.make()
        let id = try storage.createBuild(jobID: "a", jobConfig: ["id": "a"], buildConfig: [:])
        func lines(_ count: Int, _ label: String) -> [LogRecord] {
            (0..<count).map { LogRecord(buildID: id, level: 20, message: "\(label) \($0)", logger: "test") }
        }
        for chunk in 0..<5 { storage.enqueueLogMessages(lines(100, "before start \(chunk)")) }
        try storage.startBuild(id)
        #expect(try storage.logs(id).count == 500)
        for chunk in 0..<20 { storage.enqueueLogMessages(lines(100, "before end \(chunk)")) }
        try storage.finishBuild(id, success: true, skipped: false, retval: nil, exception: nil, exceptionTraceback: nil)
        let stored = try storage.logs(id)
        #expect(stored.count == 2500)
        #expect(stored.last?.message == "before end 19 99")
    }

    @Test(arguments: Backend.allCases) func buildLifecycle(_ backend: Backend) throws {
        let storage = try backend.make()
        let id = try storage.createBuild(
            jobID: "a", jobConfig: ["id": "a", "args": [1, "two"]], buildConfig: ["dependency_builds": ["b": 3]])
        var build = try #require(try storage.getBuild(id))
        #expect(build.state == .created)
        #expect(!build.started && !build.finished && !build.success && !build.skipped)
        #expect(build.config == ["job": ["id": "a", "args": [1, "two"]], "build": ["dependency_builds": ["b": 3]]])
        try storage.startBuild(id)
        build = try #require(try storage.getBuild(id))
        #expect(build.state == .running)
        #expect(build.startTime != nil && build.endTime == nil)
        let retval: JSONValue = ["nested": [1, 2.5, true, nil, "ü"]]
        try storage.finishBuild(
            id, success: true, skipped: false, retval: retval, exception: nil, exceptionTraceback: nil)
        build = try #require(try storage.getBuild(id))
        #expect(build.state == .successful)
        #expect(build.retval == retval)
        #expect(build.endTime! >= build.startTime!)
        #expect(try storage.getBuild(id + 100) == nil)
        #expect(throws: StorageError.self) { try storage.startBuild(id + 100) }
        #expect(throws: StorageError.self) {
            try storage.finishBuild(
                id + 100, success: true, skipped: false, retval: nil, exception: nil, exceptionTraceback: nil)
        }
    }

    @Test(arguments: Backend.allCases) func skippedBuild(_ backend: Backend) throws {
        let storage = try backend.make()
        let id = try storage.finishedBuild("a", success: true, skipped: true)
        #expect(try storage.getBuild(id)?.state == .skipped)
        #expect(try storage.getLatestSuccessfulBuild(jobID: "a") == nil)
    }

    @Test(arguments: Backend.allCases) func jobBuildsFiltersOrderAndLimit(_ backend: Backend) throws {
        let storage = try backend.make()
        let ok1 = try storage.finishedBuild("a")
        let failed = try storage.finishedBuild("a", success: false)
        let skipped = try storage.finishedBuild("a", skipped: true)
        let ok2 = try storage.finishedBuild("a")
        let created = try storage.createBuild(jobID: "a", jobConfig: [:], buildConfig: [:])
        let other = try storage.finishedBuild("b")
        func ids(_ filter: BuildFilter, _ order: BuildOrder = .ascending, limit: Int = 100, job: String? = "a") throws
            -> [Int64]
        {
            try storage.getJobBuilds(jobID: job, filter: filter, order: order, limit: limit).map(\.id)
        }
        #expect(try ids(BuildFilter()) == [ok1, failed, skipped, ok2, created])
        #expect(try ids(BuildFilter(), .descending, limit: 2) == [created, ok2])
        #expect(try ids(BuildFilter(started: false)) == [created])
        #expect(try ids(BuildFilter(finished: true)) == [ok1, failed, skipped, ok2])
        #expect(try ids(BuildFilter(success: false)) == [failed, created])
        #expect(try ids(BuildFilter(skipped: true)) == [skipped])
        #expect(try ids(BuildFilter(finished: true, success: true, skipped: false)) == [ok1, ok2])
        #expect(try ids(BuildFilter(), job: nil) == [ok1, failed, skipped, ok2, created, other])
        #expect(try storage.getLatestSuccessfulBuild(jobID: "a")?.id == ok2)
        #expect(try storage.getLatestSuccessfulBuild(jobID: "none") == nil)
        #expect(try storage.jobIDs() == ["a", "b"])
    }

    @Test(arguments: Backend.allCases) func deleteBuildRemovesItsProgressAndLogs(_ backend: Backend) throws {
        let storage = try backend.make()
        let id = try storage.finishedBuild("a")
        let kept = try storage.finishedBuild("a")
        try storage.logMessage(LogRecord(buildID: id, level: 20, message: "x", logger: "t"))
        try storage.logMessage(LogRecord(buildID: kept, level: 20, message: "y", logger: "t"))
        try storage.updateBuildProgress(id, current: 1, total: 2)
        try storage.deleteBuild(id)
        #expect(try storage.getBuild(id) == nil)
        #expect(try storage.logs(id).isEmpty)
        #expect(try storage.getBuildProgressInfo(id).isEmpty)
        #expect(try storage.logs(kept).map(\.message) == ["y"])
        #expect(throws: StorageError.self) { try storage.deleteBuild(id) }
        // Writing for a deleted build is an error for that call only.
        #expect(throws: StorageError.self) {
            try storage.logMessage(LogRecord(buildID: id, level: 20, message: "late", logger: "t"))
        }
        try storage.logMessage(LogRecord(buildID: kept, level: 20, message: "z", logger: "t"))
        #expect(try storage.logs(kept).map(\.message) == ["y", "z"])
    }

    @Test(arguments: Backend.allCases) func finishWithExceptionStoresErrorAndTraceback(_ backend: Backend) throws {
        let storage = try backend.make()
        let id = try storage.createBuild(jobID: "a", jobConfig: [:], buildConfig: [:])
        try storage.startBuild(id)
        let traceback = TracebackInfo(frames: [
            .init(
                filename: "job.swift", lineNumber: 12, function: "run()", line: "try work()", context: ["a", "b"],
                locals: ["big": String(repeating: "x", count: 10_000), "n": "3"])
        ])
        try storage.finishBuildWithException(
            id, BuildException(type: "Boom", message: "it broke"), traceback: traceback)
        let build = try #require(try storage.getBuild(id))
        #expect(build.state == .failed)
        #expect(build.exception == ["type": "Boom", "message": "it broke"])
        let stored = TracebackInfo(json: try #require(build.exceptionTraceback))
        #expect(stored.frames.first?.lineNumber == 12)
        #expect(stored.frames.first?.locals["n"] == "3")
        #expect((stored.frames.first?.locals["big"]?.count ?? 0) < 2100)
        #expect(stored == traceback)
    }

    @Test(arguments: Backend.allCases) func progressTreeSumsUnreportedParents(_ backend: Backend) throws {
        let storage = try backend.make()
        let id = try storage.createBuild(jobID: "a", jobConfig: [:], buildConfig: [:])
        try storage.reportBuildProgress(id, current: 1, total: 10, group: "download::file-1", statusLine: "fetching")
        try storage.reportBuildProgress(
            id, [try ProgressReport(group: ProgressGroup(parts: ["download", "file-2"]), current: 5, total: 5)])
        try storage.reportBuildProgress(id, current: 2, total: 4, group: "process")
        // Replaces the earlier report of the same group.
        try storage.reportBuildProgress(id, current: 3, total: 10, group: "download::file-1", statusLine: "halfway")
        let info = try storage.getBuildProgressInfo(id)
        let byName = Dictionary(uniqueKeysWithValues: info.map { ($0.group.name, $0) })
        #expect(info.map(\.group.name) == ["", "download", "download::file-1", "download::file-2", "process"])
        #expect(byName["download::file-1"]?.current == 3)
        #expect(byName["download::file-1"]?.statusLine == "halfway")
        #expect(byName["download"].map { ($0.current, $0.total, $0.reported) } ?? (0, 0, true) == (8, 15, false))
        #expect(byName[""].map { ($0.current, $0.total, $0.reported) } ?? (0, 0, true) == (10, 19, false))
        // A parent's own report wins over the sum of its children.
        try storage.updateBuildProgress(id, current: 1, total: 3)
        let root = try #require(try storage.getBuildProgressInfo(id).first)
        #expect(root.group == .root && root.current == 1 && root.total == 3 && root.reported)
    }

    /// Reports may be anything up to Int64.max: the sum an unreported parent shows is held there
    /// (it trapped, stopping the daemon on every later read of that build's progress).
    @Test(arguments: Backend.allCases) func progressSumsPastInt64AreHeldAtTheMaximum(_ backend: Backend) throws {
        let storage = try backend.make()
        let id = try storage.createBuild(jobID: "a", jobConfig: [:], buildConfig: [:])
        try storage.reportBuildProgress(id, current: .max, total: .max, group: "a::b")
        try storage.reportBuildProgress(id, current: .max, total: .max, group: "a::c")
        let info = try storage.getBuildProgressInfo(id)
        let parent = try #require(info.first { $0.group.name == "a" })
        #expect(parent.current == .max && parent.total == .max && !parent.reported)
        #expect(info.first?.group == .root && info.first?.current == .max)
    }

    @Test(arguments: Backend.allCases) func invalidProgressIsRefused(_ backend: Backend) throws {
        let storage = try backend.make()
        let id = try storage.createBuild(jobID: "a", jobConfig: [:], buildConfig: [:])
        #expect(throws: StorageError.self) { try storage.reportBuildProgress(id, current: -1, total: 3) }
        #expect(throws: StorageError.self) {
            try storage.reportBuildProgress(id, current: 1, total: 3, group: "a::::b")
        }
        #expect(throws: StorageError.self) {
            try storage.reportBuildProgress(id, current: 1, total: 3, group: String(repeating: "g", count: 129))
        }
        #expect(throws: StorageError.self) { try storage.reportBuildProgress(id + 1, current: 1, total: 3) }
        #expect(try storage.getBuildProgressInfo(id).isEmpty)
    }

    @Test(arguments: Backend.allCases) func logQueries(_ backend: Backend) throws {
        let storage = try backend.make()
        let id = try storage.createBuild(jobID: "a", jobConfig: [:], buildConfig: [:])
        let other = try storage.createBuild(jobID: "b", jobConfig: [:], buildConfig: [:])
        let base = Date(timeIntervalSince1970: 1_800_000_000)
        try storage.logMessages([
            LogRecord(buildID: id, created: base, level: 10, message: "debug", logger: "x"),
            LogRecord(buildID: id, created: base + 10, level: 20, message: "info", logger: "stdout"),
            LogRecord(
                buildID: id, created: base + 20, level: 30, message: "warning \"quoted\" ü\nsecond line",
                logger: "stderr"),
            LogRecord(
                buildID: id, created: base + 30, level: 40, message: "error", logger: "x",
                exceptionTraceback: TracebackInfo(frames: [.init(filename: "f", function: "g")]).json),
            LogRecord(buildID: other, created: base + 15, level: 50, message: "other", logger: "x"),
        ])
        let all = try storage.logs(id)
        #expect(all.map(\.message) == ["debug", "info", "warning \"quoted\" ü\nsecond line", "error"])
        #expect(all[1].logger == "stdout" && all[1].level == 20)
        #expect(all[1].created == base + 10)
        #expect(all[3].exceptionTraceback?["frames"] != nil)
        #expect(try storage.iterLogMessages(LogQuery(buildID: id, minLevel: 30)).map(\.message).count == 2)
        #expect(
            try storage.iterLogMessages(LogQuery(minDate: base + 10, maxDate: base + 20)).map(\.message) == [
                "info", "warning \"quoted\" ü\nsecond line", "other",
            ])
        #expect(try storage.iterLogMessages(LogQuery(buildID: id, afterID: all[1].id)).map(\.message).count == 2)
        #expect(try storage.iterLogMessages(LogQuery(buildID: id, limit: 1)).map(\.message) == ["debug"])
        #expect(try storage.iterLogMessages(LogQuery()).count == 5)
    }

    @Test(arguments: Backend.allCases) func pruneLogMessages(_ backend: Backend) throws {
        let storage = try backend.make()
        let a = try storage.finishedBuild("a")
        let b = try storage.finishedBuild("b")
        let now = Date()
        var records: [LogRecord] = []
        for build in [a, b] {
            for (age, level) in [(100.0, 10), (100, 20), (100, 30), (1, 10), (1, 40)] {
                records.append(
                    LogRecord(buildID: build, created: now - age, level: level, message: "\(age)-\(level)", logger: "t")
                )
            }
        }
        try storage.logMessages(records)
        // Level means "this level and below"; dry run counts without deleting.
        let filter = LogPruneFilter(maxAge: 50, level: 20, now: now)
        #expect(try storage.pruneLogMessages(filter, dryRun: true) == 4)
        #expect(try storage.iterLogMessages(LogQuery()).count == 10)
        #expect(try storage.pruneLogMessages(filter, dryRun: false) == 4)
        #expect(try storage.logs(a).map(\.message) == ["100.0-30", "1.0-10", "1.0-40"])
        #expect(try storage.pruneLogMessages(LogPruneFilter(jobID: "b", now: now), dryRun: false) == 3)
        #expect(try storage.logs(b).isEmpty)
        #expect(
            try storage.pruneLogMessages(LogPruneFilter(buildID: a, level: 30, levelAbove: 10, now: now), dryRun: false)
                == 1)
        #expect(try storage.logs(a).map(\.message) == ["1.0-10", "1.0-40"])
    }

    @Test(arguments: Backend.allCases) func pruneBuildsKeepsWhatMatters(_ backend: Backend) throws {
        let storage = try backend.make()
        let old1 = try storage.finishedBuild("a")
        let pinned = try storage.finishedBuild("a")
        let old2 = try storage.finishedBuild("a", success: false)
        let latestOK = try storage.finishedBuild("a")
        let running = try storage.createBuild(jobID: "a", jobConfig: [:], buildConfig: [:])
        try storage.startBuild(running)
        let failed1 = try storage.finishedBuild("a", success: false)
        let failed2 = try storage.finishedBuild("a", success: false)
        _ = try storage.finishedBuild("dependent", pins: ["a": pinned])
        let policy = BuildRetention(keepLast: 2)
        let now = Date()
        let wouldGo = try storage.pruneBuilds(jobID: "a", policy: policy, now: now, dryRun: true)
        #expect(Set(wouldGo) == [old1, old2])
        #expect(try storage.getBuild(old1) != nil)
        #expect(Set(try storage.pruneBuilds(jobID: "a", policy: policy, now: now, dryRun: false)) == [old1, old2])
        let left = try storage.getJobBuilds(jobID: "a", filter: BuildFilter(), order: .ascending, limit: 100).map(\.id)
        #expect(left == [pinned, latestOK, running, failed1, failed2])
        // By age: everything finished is "old" a day from now, but the latest successful and pinned builds stay.
        let later = try storage.pruneBuilds(
            jobID: "a", policy: BuildRetention(maxAge: 3600), now: now + 86_400, dryRun: false)
        #expect(Set(later) == [failed1, failed2])
        #expect(try storage.pruneBuilds(jobID: "a", policy: BuildRetention(), now: now, dryRun: false).isEmpty)
    }

    @Test(arguments: Backend.allCases) func unfinishedBuildsAreFailed(_ backend: Backend) throws {
        let storage = try backend.make()
        let running = try storage.createBuild(jobID: "a", jobConfig: [:], buildConfig: [:])
        try storage.startBuild(running)
        let queued = try storage.createBuild(jobID: "a", jobConfig: [:], buildConfig: [:])
        let done = try storage.finishedBuild("a")
        #expect(
            try storage.failUnfinishedBuilds(reason: BuildException(type: "DaemonRestarted", message: "gone")) == [
                running, queued,
            ])
        let build = try #require(try storage.getBuild(running))
        #expect(build.state == .failed)
        #expect(build.exception?["type"] == "DaemonRestarted")
        #expect(try storage.getBuild(queued)?.state == .failed)
        #expect(try storage.getBuild(done)?.state == .successful)
        #expect(try storage.failUnfinishedBuilds(reason: BuildException(type: "X", message: "y")).isEmpty)
    }

    @Test(arguments: Backend.allCases) func uninstallAndReinstall(_ backend: Backend) throws {
        let storage = try backend.make()
        try storage.finishedBuild("a")
        try storage.uninstall()
        try storage.install()
        #expect(try storage.jobIDs().isEmpty)
        try storage.finishedBuild("a")
        #expect(try storage.jobIDs() == ["a"])
    }

    @Test func packUnpackRoundTrip() throws {
        let value: JSONValue = ["a": [1, 2.5, "x", nil, true], "b": ["c": "ü \"q\""]]
        #expect(try Packing.unpack(Packing.pack(value)) == value)
        #expect(throws: StorageError.self) { try Packing.unpack("{nope") }
        #expect(try Packing.unpack(Packing.packException(BuildException(type: "T", message: "m")))["type"] == "T")
    }
}
