import Foundation
import Testing

@testable import JobControl

/// The storage side of several daemons sharing PostgreSQL: claims are exclusive under
/// concurrency, a daemon whose lease expired is recovered by exactly one other, and a restarted
/// daemon finds what it left.
@Suite(.enabled(if: Backend.postgresURL != nil, Backend.noPostgres))
struct ClusterStoreTests {
    func store() throws -> PostgresStorage {
        let storage = try #require(try Backend.postgres.make() as? PostgresStorage)
        return storage
    }

    static func node(_ name: String, lease: TimeInterval = 30) -> ClusterNode {
        ClusterNode(
            node: name, host: "test", pid: 1, started: Date(), heartbeat: Date(), lease: lease, state: "alive",
            version: "test", workers: 2)
    }

    @Test func everyQueuedBuildIsClaimedByExactlyOneOfFourConcurrentClaimers() throws {
        let storage = try store()
        defer { try? storage.uninstall() }
        let ids = try (0..<200).map { try storage.createBuild(jobID: "j\($0)", jobConfig: [:], buildConfig: [:]) }
        // Four threads claim at once, seven at a time, until the queue is empty.
        let claims = try TestThreads.all(4) { index in
            var mine: [Int64] = []
            while case let batch = try storage.claimQueuedBuilds(node: "n\(index)", limit: 7), !batch.isEmpty {
                mine += batch.map(\.id)
            }
            return mine
        }
        let all = claims.flatMap { $0 }
        #expect(all.count == ids.count, "claimed \(all.count) of \(ids.count)")
        #expect(Set(all) == Set(ids), "a build was claimed twice or not at all")
        #expect(try storage.sharedQueueLength() == 0)
        #expect(try storage.claimQueuedBuilds(node: "late", limit: 10).isEmpty)
    }

    @Test func anExpiredDaemonIsRecoveredOnceAndItsBuildsFailOrGoBack() throws {
        let storage = try store()
        defer { try? storage.uninstall() }
        // A lease long enough for the check "within its lease" below, however slow the test is;
        // shortened to 1 s (registered again) once that check is done.
        try storage.registerNode(Self.node("dead", lease: 3600))
        try storage.registerNode(Self.node("alive"))
        let running = try storage.createBuild(jobID: "a", jobConfig: [:], buildConfig: [:])
        let waiting = try storage.createBuild(jobID: "b", jobConfig: [:], buildConfig: [:])
        #expect(try storage.claimQueuedBuilds(node: "dead", limit: 2).map(\.id) == [running, waiting])
        try storage.startBuild(running)
        try storage.setBuildProcess(running, group: 4242, startTicks: 7)
        try storage.flush()
        // Still within its lease: nothing to recover.
        #expect(try storage.recoverExpiredNodes(exception: ["type": "DaemonLost"]).nodes.isEmpty)
        try storage.registerNode(Self.node("dead", lease: 1))
        // Wait for the event, on the database's own clock: the dead daemon's heartbeat is older
        // than its 1 s lease.
        let deadline = ContinuousClock.now + .seconds(10)
        func deadAge() throws -> Double { try storage.clusterNodes().first { $0.node == "dead" }?.heartbeatAge ?? 0 }
        while try deadAge() <= 1, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
        #expect(try storage.heartbeat(node: "alive", workers: 2))
        let recoveries = try TestThreads.all(3) { _ in
            try storage.recoverExpiredNodes(exception: ["type": "DaemonLost"])
        }
        #expect(recoveries.flatMap(\.nodes) == ["dead"], "recovered by exactly one: \(recoveries.map(\.nodes))")
        let recovery = try #require(recoveries.first { !$0.nodes.isEmpty })
        #expect(recovery.failed.map(\.id) == [running])
        #expect(recovery.released == [waiting])
        #expect(try storage.getBuild(running)?.exception?["type"]?.stringValue == "DaemonLost")
        #expect(try storage.claimQueuedBuilds(node: "alive", limit: 5).map(\.id) == [waiting])
        // The dead daemon's lease is gone: its heartbeat says so; its late finish keeps the record.
        #expect(try !storage.heartbeat(node: "dead", workers: 2))
        try storage.finishBuild(
            running, success: true, skipped: false, retval: nil, exception: nil, exceptionTraceback: nil)
        #expect(try storage.getBuild(running)?.state == .failed)
        // Restarted, it finds the orphan to stop, then forgets it.
        let leftovers = try storage.leftovers(node: "dead")
        #expect(
            leftovers.recoveredElsewhere.map(\.build.id) == [running]
                && leftovers.recoveredElsewhere.first?.processGroup == 4242)
        try storage.clearBuildProcess(running)
        #expect(try storage.leftovers(node: "dead").recoveredElsewhere.isEmpty)
    }

    /// A daemon that lost its lease, and whose claimed builds another daemon has since taken,
    /// neither starts them nor writes its record over theirs.
    @Test func aDaemonStartsAndFinishesOnlyBuildsItOwns() throws {
        let storage = try store()
        defer { try? storage.uninstall() }
        let id = try storage.createBuild(jobID: "j", jobConfig: [:], buildConfig: [:])
        #expect(try storage.claimQueuedBuilds(node: "b", limit: 1).map(\.id) == [id])
        storage.clusterNode.withLock { $0 = "a" }
        #expect(throws: StorageError.self) { try storage.startBuild(id) }
        try storage.finishBuild(
            id, success: false, skipped: false, retval: nil, exception: ["type": "LeaseLost"], exceptionTraceback: nil)
        let untouched = try #require(try storage.getBuild(id))
        #expect(!untouched.started && !untouched.finished && untouched.node == "b")
        // Its owner starts and finishes it as usual.
        storage.clusterNode.withLock { $0 = "b" }
        try storage.startBuild(id)
        try storage.finishBuild(id, success: true, skipped: false, retval: 1, exception: nil, exceptionTraceback: nil)
        #expect(try storage.getBuild(id)?.state == .successful)
    }

    @Test func aQueuedBuildIsCancelledInPlaceAndAClaimedOneIsNot() throws {
        let storage = try store()
        defer { try? storage.uninstall() }
        let queued = try storage.createBuild(jobID: "a", jobConfig: [:], buildConfig: [:])
        let claimed = try storage.createBuild(jobID: "b", jobConfig: [:], buildConfig: [:])
        _ = try storage.claimQueuedBuilds(node: "n", limit: 1)  // takes `queued`, the oldest
        #expect(try !storage.cancelQueuedBuild(queued, exception: ["type": "Cancelled"]))
        #expect(try storage.cancelQueuedBuild(claimed, exception: ["type": "Cancelled"]))
        #expect(try storage.getBuild(claimed)?.finished == true)
        try storage.releaseBuild(queued, node: "n")
        #expect(try storage.claimQueuedBuilds(node: "m", limit: 5).map(\.id) == [queued])
    }

    @Test func aSuspendedJobHasNoOccurrenceClaimed() throws {
        let storage = try store()
        defer { try? storage.uninstall() }
        try storage.setSuspended(jobID: "tick", true)
        #expect(try !storage.claimOccurrence(Occurrence(jobID: "tick", due: 1_000_000, outcome: .started)))
        try storage.setSuspended(jobID: "tick", false)
        #expect(try storage.claimOccurrence(Occurrence(jobID: "tick", due: 1_000_000, outcome: .started)))
        #expect(try !storage.claimOccurrence(Occurrence(jobID: "tick", due: 1_000_000, outcome: .started)))
    }
}

/// Runs `body` on `count` threads at once (real concurrency against the database) and returns
/// their results in order.
enum TestThreads {
    static func all<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) throws -> T) throws -> [T] {
        let results = Results<T>(count: count)
        let done = DispatchGroup()
        for index in 0..<count {
            done.enter()
            Thread {
                results.set(index, Result { try body(index) })
                done.leave()
            }.start()
        }
        done.wait()
        return try results.values()
    }

    /// Ownership: `slots` is guarded by `lock`.
    final class Results<T: Sendable>: @unchecked Sendable {
        private let lock = NSLock()
        private var slots: [Result<T, any Error>?]
        init(count: Int) { slots = Array(repeating: nil, count: count) }
        func set(_ index: Int, _ result: Result<T, any Error>) { lock.withLock { slots[index] = result } }
        func values() throws -> [T] { try lock.withLock { slots }.map { try $0!.get() } }
    }
}
