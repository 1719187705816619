import Foundation
import Synchronization
import Testing

@testable import JobControl

/// On a full disk, the space set aside beside the database is given back for what must be
/// recorded: a build's start or end, without log lines in the same commit.
@Suite struct StorageReserveTests {
    @Test func aFullDiskReleasesTheReserveForWhatMustBeRecorded() async throws {
        let released = Atomic<Int>(0)
        var holding = GroupCommitWriter<Int>.Holding(
            health: StorageHealth(), hold: .milliseconds(20), droppable: { $0 % 2 == 0 }, logLineBuild: { _ in nil })
        holding.releaseReserve = {
            released.add(1, ordering: .relaxed)
            return true
        }
        let committed = Mutex<[Int]>([])
        let writer = GroupCommitWriter<Int>(name: "test-writer", holding: holding) {
            (operations: [Int]) throws(StorageError) in
            // The disk stays full until the reserve is given back.
            guard released.load(ordering: .relaxed) > 0 else { throw StorageError(.full, "database or disk is full") }
            committed.withLock { $0 += operations }
        }
        // A build's end with a log line before it fails while the disk is full (the engine tries
        // the end again later); the end alone then uses the reserve.
        await #expect(throws: StorageError.self) { try await writer.submitAsync([2, 1]) }
        #expect(released.load(ordering: .relaxed) == 0)
        try await writer.submitAsync([1])
        #expect(committed.withLock { $0 } == [1])
        #expect(released.load(ordering: .relaxed) == 1)
    }

    /// A caller whose write is refused at once while the writer holds writes (its ticket taken
    /// back out of the queue) leaves nothing for a flush to wait for: the flush ends with the
    /// held writes. It waited for that never-committed ticket until some later write came.
    @Test func aFlushDoesNotWaitForAWriteRefusedDuringAHold() async throws {
        let holding = GroupCommitWriter<Int>.Holding(
            health: StorageHealth(), hold: .seconds(30), droppable: { _ in true }, logLineBuild: { _ in nil })
        let commits = Atomic<Int>(0)
        let release = DispatchSemaphore(value: 0)
        let writer = GroupCommitWriter<Int>(name: "test-writer", holding: holding) { (_: [Int]) throws(StorageError) in
            // The first commit fails once the second write is queued; the held retry succeeds.
            if commits.add(1, ordering: .relaxed).newValue == 1 {
                release.wait()
                throw StorageError(.unavailable, "database is locked")
            }
        }
        writer.enqueue([1])  // a log line: held through the outage
        try await waitFor { commits.load(ordering: .relaxed) == 1 }
        let refused = Task { () async -> Bool in
            do {
                try await writer.submitAsync([2])
                return false
            } catch {
                return true
            }
        }
        try await waitFor { writer.queuedOperations == 1 }
        release.signal()
        #expect(await refused.value, "a write queued when the writer began holding is refused at once")
        let flushed = Atomic<Bool>(false)
        let flush = Task {
            try? await writer.flushAsync()
            flushed.store(true, ordering: .relaxed)
        }
        try await waitFor { flushed.load(ordering: .relaxed) }
        let ended = flushed.load(ordering: .relaxed)
        #expect(ended, "the flush still waits for the refused write")
        flush.cancel()
        writer.enqueue([3])  // lets a flush stuck on the old code end, so the test process does not hang
    }

    @Test func theReserveIsRealSpaceAndGoesOnce() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jc-reserve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let reserve = StorageReserve(databasePath: directory.appendingPathComponent("db.sqlite3").path)
        var info = stat()
        #expect(stat(reserve.path, &info) == 0)
        #expect(Int(info.st_blocks) * 512 >= StorageReserve.size, "allocated, not a hole")
        #expect(reserve.release())
        #expect(!reserve.release())
        #expect(reserve.create())
        #expect(access(reserve.path, F_OK) == 0)
    }
}
