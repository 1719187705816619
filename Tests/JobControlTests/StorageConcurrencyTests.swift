import Dispatch
import Foundation
import Synchronization
import Testing

@testable import JobControl

/// Many writers, readers and pruners at once on one database: nothing lost, nothing duplicated,
/// and the file stays sound.
@Suite struct StorageConcurrencyTests {
    @Test(arguments: Backend.allCases) func eightWritersWhileOthersReadAndPrune(_ backend: Backend) async throws {
        let storage = try backend.make()
        let writers = 8
        // PostgreSQL commits each call over a socket; fewer lines keep the test short there.
        let linesPerWriter = backend == .postgres ? 2_000 : 10_000
        let builds = try (0..<writers).map {
            try storage.createBuild(jobID: "job-\($0)", jobConfig: [:], buildConfig: [:])
        }
        let failures = Mutex<[String]>([])
        let writing = Atomic<Int>(writers)
        let group = DispatchGroup()
        // Threads of their own: these block on purpose, and Dispatch's shared pool also runs the
        // test runner's tasks.
        func spawn(_ body: @escaping @Sendable () -> Void) {
            group.enter()
            Thread {
                body()
                group.leave()
            }.start()
        }
        for writer in 0..<writers {
            spawn {
                do {
                    // Both write paths: lines that wait for their commit, and lines handed in for
                    // the group commit (as a command's output is); then a flush.
                    for line in 0..<linesPerWriter {
                        let record = LogRecord(
                            buildID: builds[writer], level: 20, message: "w\(writer)-\(line)", logger: "t")
                        if line % 4 == 0 {
                            try storage.logMessage(record)
                        } else {
                            storage.enqueueLogMessages([record])
                        }
                        if line % 4 == 0 || line == linesPerWriter - 1 {
                            try storage.reportBuildProgress(
                                builds[writer], current: Int64(line + 1), total: Int64(linesPerWriter),
                                group: "g::w\(writer)")
                        }
                    }
                    try storage.flush()
                } catch {
                    failures.withLock { $0.append("writer \(writer): \(error)") }
                }
                writing.subtract(1, ordering: .sequentiallyConsistent)
            }
        }
        // Two readers and a pruner run until the writers are done. The pruner's filter matches
        // nothing (all records are fresh), so it takes the write lock without changing the count.
        for role in 0..<3 {
            spawn {
                do {
                    while writing.load(ordering: .sequentiallyConsistent) > 0 {
                        if role == 2 {
                            _ = try storage.pruneLogMessages(LogPruneFilter(maxAge: 86_400), dryRun: false)
                        } else {
                            let build = builds[Int.random(in: 0..<writers)]
                            let records = try storage.iterLogMessages(LogQuery(buildID: build, limit: 100))
                            let ids = records.map(\.id)
                            if ids != ids.sorted() || Set(ids).count != ids.count {
                                failures.withLock { $0.append("reader saw unordered or duplicated ids") }
                            }
                            _ = try storage.getBuildProgressInfo(build)
                        }
                        // Pace the readers and the pruner: the point is overlap, not starving writers.
                        Thread.sleep(forTimeInterval: 0.002)
                    }
                } catch {
                    failures.withLock { $0.append("role \(role): \(error)") }
                }
            }
        }
        // Wait without blocking a thread of the test runner's small pool.
        await withCheckedContinuation { continuation in group.notify(queue: .global()) { continuation.resume() } }
        #expect(failures.withLock { $0 } == [])
        for (writer, build) in builds.enumerated() {
            let messages = try storage.iterLogMessages(LogQuery(buildID: build)).map(\.message)
            #expect(messages.count == linesPerWriter)
            let firstWrong = zip(messages, (0..<linesPerWriter).map { "w\(writer)-\($0)" }).first { $0.0 != $0.1 }
            #expect(
                firstWrong == nil,
                "lines of writer \(writer) lost, duplicated or reordered: \(String(describing: firstWrong))")
            let progress = try storage.getBuildProgressInfo(build)
            #expect(progress.first { $0.group.name == "g::w\(writer)" }?.current == Int64(linesPerWriter))
        }
        if let sqlite = storage as? SQLiteStorage {
            #expect(try sqlite.integrityCheck() == "ok")
        }
    }
}
