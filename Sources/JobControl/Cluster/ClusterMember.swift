import Dispatch
import FoundationEssentials
import Glibc
import Logging
import Synchronization

/// What makes a daemon one of several sharing a PostgreSQL database (see `docs/cluster.md`):
///
/// - it holds a **lease**: a heartbeat in the `daemon` table every third of `cluster.lease`;
///   a daemon that misses its lease is declared dead by the others, which finish its running
///   builds as failed (`DaemonLost`, retried when the job has `retries`) and put its claimed ones
///   back in the queue;
/// - it **claims** queued builds from the shared queue as its workers free up, each build by
///   exactly one daemon (`SKIP LOCKED`);
/// - it **listens** for notifications (a build queued or ended, a cancel, a suspension) instead
///   of polling; each heartbeat also looks again, in case a notification was lost.
///
/// Ownership: this actor owns the lease bookkeeping and the background tasks; the engine owns
/// builds; the listener's thread owns its connection.
public actor ClusterMember {
    public nonisolated let node: String
    public nonisolated let lease: TimeInterval
    let store: PostgresStorage
    let engine: BuildEngine
    let logger: Logger
    /// Runs when another daemon suspended or resumed a schedule.
    let onScheduleChange: @Sendable () async -> Void
    /// Runs when the daemon cannot stay in the cluster (its name was taken over).
    let onFatal: @Sendable (StorageError) -> Void
    private let wakes: AsyncStream<Void>
    private nonisolated let wakeContinuation: AsyncStream<Void>.Continuation
    private var listener: PostgresListener?
    /// The heartbeat's own connection: a lease renewal never waits for a free connection
    /// behind claims or queries.
    private var heartbeatPool: PostgresPool?
    private var schedulerLock: PostgresSchedulerLock?
    private var tasks: [Task<Void, Never>] = []
    /// When the lease was last renewed, and whether this daemon has given its builds up as
    /// recovered by the others. A lock, not actor state: the lease guard acts while the actor
    /// (or a renewal) waits on an unresponsive database.
    private nonisolated let leaseState = Mutex<(renewed: ContinuousClock.Instant, lost: Bool)>((.now, false))

    static let lostException = BuildException(
        type: "DaemonLost",
        message:
            "the daemon running this build stopped renewing its lease (it died, or lost the database); another daemon recovered the build"
    )
    static let leaseLostException = BuildException(
        type: "LeaseLost",
        message:
            "this daemon could not renew its lease in time, so the cluster recovered its builds; the build was stopped here"
    )

    public init(
        node: String, lease: TimeInterval, store: PostgresStorage, engine: BuildEngine, logger: Logger,
        onScheduleChange: @escaping @Sendable () async -> Void, onFatal: @escaping @Sendable (StorageError) -> Void
    ) {
        self.node = node
        self.lease = lease
        self.store = store
        self.engine = engine
        self.logger = logger
        self.onScheduleChange = onScheduleChange
        self.onFatal = onFatal
        (wakes, wakeContinuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Joins the cluster: takes the node's name (failing if a running daemon has it), recovers what
    /// an earlier run of this node left, and starts claiming, listening and heartbeating.
    public func join(workers: Int) async throws(StorageError) {
        let wake = wakeContinuation
        listener = try PostgresListener(
            storage: store, node: node,
            onMessage: { [weak self] message in self?.received(message) },
            onReconnect: { [weak self] in
                wake.yield(())
                Task { await self?.engine.recheckWaiters() }
            },
            onFatal: onFatal)
        // A renewal that takes longer than a third of the lease has missed its turn anyway.
        heartbeatPool = try store.dedicatedPool(statementTimeout: .milliseconds(Int64(max(0.2, lease / 3) * 1000)))
        store.clusterNode.withLock { $0 = node }
        leaseState.withLock { $0 = (.now, false) }
        try store.registerNode(
            ClusterNode(
                node: node, host: Self.hostName, pid: getpid(), started: Date(), heartbeat: Date(), lease: lease,
                state: "alive",
                version: JobControlVersion.current, workers: workers))
        await engine.shareQueue(node: node, store: store, wake: { wake.yield(()) })
        try await recoverOwnLeftovers()
        tasks.append(Task { await self.claimLoop() })
        tasks.append(Task { await self.heartbeatLoop() })
        tasks.append(Task.detached { await self.leaseGuardLoop() })
        wake.yield(())
    }

    /// Competes for the scheduler lock: `leading(true)` when this daemon gets it (it then runs
    /// the cluster's schedules), `leading(false)` when it loses it. Calls come one at a time, in order.
    public func competeForScheduler(_ leading: @escaping @Sendable (Bool) async -> Void) {
        let (changes, continuation) = AsyncStream<Bool>.makeStream()
        tasks.append(
            Task {
                for await lead in changes { await leading(lead) }
            })
        let store = store, node = node, logger = logger
        schedulerLock = PostgresSchedulerLock(storage: store) { lead, backend in
            do { try store.setScheduler(node: node, backend: lead ? backend : nil) } catch {
                logger.warning("cannot record which daemon runs the schedules", metadata: ["error": "\(error)"])
            }
            continuation.yield(lead)
        }
    }

    /// Gives the schedules to another daemon now (this one is stopping): the lock's session ends
    /// within a second, long before running builds have drained.
    public func resignScheduler() {
        schedulerLock?.stop()
        do { try store.setScheduler(node: node, backend: nil) } catch {
            logger.warning(
                "cannot record that this daemon no longer runs the schedules", metadata: ["error": "\(error)"])
        }
    }

    /// Leaves the cluster after the engine drained: marks the daemon stopped (nothing to recover)
    /// and closes the listening connection.
    public func leave() {
        for task in tasks { task.cancel() }
        wakeContinuation.finish()
        listener?.stop()
        schedulerLock?.stop()
        do {
            try store.setScheduler(node: node, backend: nil)
            try store.markStopped(node: node)
        } catch {
            logger.warning(
                "cannot mark this daemon stopped in the cluster; the others will recover it when its lease expires",
                metadata: ["error": "\(error)"])
        }
    }

    /// Every daemon the database knows of, and how many builds wait in the shared queue.
    public func overview() throws(StorageError) -> (nodes: [ClusterNode], queued: Int) {
        (try store.clusterNodes(), try store.sharedQueueLength())
    }

    public static var hostName: String {
        var buffer = [UInt8](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
    }

    // MARK: Notifications

    /// Called on the listener's thread with each notification's payload.
    private nonisolated func received(_ message: String) {
        let parts = message.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return }
        switch parts[0] {
        case "queued":
            wakeContinuation.yield(())
        case "finished":
            if let id = Int64(parts[1]) { Task { await engine.finishedInCluster(id) } }
        case "cancel":
            if let id = Int64(parts[1]) { Task { await engine.cancelFromCluster(id) } }
        case "schedule":
            Task { await onScheduleChange() }
        default:
            break
        }
    }

    // MARK: Claiming

    /// Claims as many queued builds as there are free workers, each time something may have
    /// changed (a build queued or ended here or elsewhere, a heartbeat).
    private func claimLoop() async {
        for await _ in wakes {
            guard !leaseState.withLock({ $0.lost }), !reconciling else { continue }
            claiming = true
            defer { claiming = false }
            while !Task.isCancelled {
                let free = engine.pool.capacity
                guard free > 0 else { break }
                // With pool limits, one at a time: each claim then knows which pools the last
                // one filled.
                let batch = engine.pool.hasPoolLimits ? 1 : free
                let claimed: [Build]
                do { claimed = try await claim(limit: batch) } catch {
                    logger.error("cannot claim queued builds", metadata: ["error": "\(error)"])
                    break
                }
                // The lease ran out while the claim waited on the database: these go back to
                // the queue rather than run here beside the others' recovery.
                if leaseState.withLock({ $0.lost }) {
                    for build in claimed { try? store.releaseBuild(build.id, node: node) }
                    await engine.gaveBack(claimed.map(\.id))
                    break
                }
                for build in claimed { await engine.adopt(build) }
                if claimed.count < batch { break }
            }
        }
    }

    /// Set while claims are being made and adopted, and while claimed builds nobody runs here are
    /// given back (``releaseStrandedClaims()``): the two never interleave, so a build just claimed
    /// is never mistaken for a stranded one.
    private var claiming = false
    private var reconciling = false

    /// Gives back to the queue the builds this daemon claimed but neither runs nor waits to run:
    /// those it dropped when its lease ran out without the others taking it away (the database
    /// answered again in time), and a claim whose answer was lost after it committed.
    private func releaseStrandedClaims() async {
        guard !claiming else { return }
        reconciling = true
        defer { reconciling = false }
        guard let claimed = try? store.claimedUnstarted(node: node), !claimed.isEmpty else { return }
        let running = await engine.inFlight
        let stranded = claimed.filter { !running.contains($0) }
        for id in stranded { try? store.releaseBuild(id, node: node) }
        await engine.gaveBack(stranded)
        if !stranded.isEmpty {
            logger.notice("gave claimed builds back to the queue", metadata: ["build.ids": "\(stranded.sorted())"])
            wakeContinuation.yield(())
        }
    }

    // MARK: Lease

    /// A renewal every third of the lease; after a failed one (a terminated session, a
    /// restarting server), the next comes soon, not a third of the lease later.
    private func heartbeatLoop() async {
        let interval = max(0.2, lease / 3)
        var renewed = true
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(renewed ? interval : min(interval, max(0.2, lease / 10))))
            guard !Task.isCancelled else { return }
            renewed = await beat()
        }
    }

    /// Renews the lease, recovers daemons whose lease expired, and looks again for what a lost
    /// notification would have said.
    @discardableResult
    func beat() async -> Bool {
        do {
            let workers = await engine.config.workers
            if try await renew(workers: workers, pool: heartbeatPool) {
                let (previous, wasLost) = leaseState.withLock { state in
                    defer { state = (.now, false) }
                    return (state.renewed, state.lost)
                }
                if wasLost {
                    logger.notice("cluster lease renewed again; claiming builds again", metadata: ["node": "\(node)"])
                }
                // This daemon's own renewals were held up for longer than a lease (the database
                // stalled, a lock, this host froze): the others' were most likely held up the same
                // way. They get a lease's time to renew before anyone is declared dead.
                if ContinuousClock.now - previous > .seconds(lease) {
                    logger.warning(
                        "the cluster lease was renewed late; recovering other daemons waits a lease",
                        metadata: ["node": "\(node)"])
                    return true
                }
            } else {
                // Declared dead by the others, who recovered our builds: stop them, then rejoin.
                logger.critical(
                    "this daemon's cluster lease was taken away; its builds were recovered by other daemons and are stopped here",
                    metadata: ["node": "\(node)"])
                await engine.abandonBuilds(reason: Self.leaseLostException)
                try store.registerNode(
                    ClusterNode(
                        node: node, host: Self.hostName, pid: getpid(), started: Date(), heartbeat: Date(),
                        lease: lease, state: "alive",
                        version: JobControlVersion.current, workers: await engine.config.workers))
                leaseState.withLock { $0 = (.now, false) }  // a new lease, from now
            }
        } catch {
            logger.error("cannot renew the cluster lease", metadata: ["error": "\(error)"])
            await giveUpBuildsIfLeaseRunsOut()
            return false
        }
        await recoverExpired()
        await releaseStrandedClaims()
        await engine.recheckWaiters()
        await onScheduleChange()
        wakeContinuation.yield(())
        return true
    }

    /// Watches the lease without waiting on the database: a renewal stuck on a database that
    /// does not answer must not keep this daemon running builds the others are about to recover.
    private nonisolated func leaseGuardLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(max(0.05, lease / 6)))
            await giveUpBuildsIfLeaseRunsOut()
        }
    }

    /// Once a whole lease has passed since the last renewal, stops this daemon's builds
    /// (`LeaseLost`) and claims no more: the others may now declare it dead and run them again,
    /// and two runs of one build must not go on side by side. (Three quarters, tried first, let a
    /// renewal that was merely slow on a loaded machine cancel builds the others never took.)
    private nonisolated func giveUpBuildsIfLeaseRunsOut() async {
        let limit = Duration.seconds(lease)
        let expired = leaseState.withLock { state -> Bool in
            guard !state.lost, ContinuousClock.now - state.renewed > limit else { return false }
            state.lost = true
            return true
        }
        guard expired else { return }
        logger.critical(
            "the cluster lease is running out and cannot be renewed (the database does not answer); stopping this daemon's builds before the others recover them",
            metadata: ["node": "\(node)"])
        await engine.abandonBuilds(reason: Self.leaseLostException)
    }

    /// The renewal's statement, outside the actor (a claim in progress on the actor does not
    /// delay it) and off Swift's cooperative threads: a renewal blocked on a database that does
    /// not answer must not hold one of the few threads the lease guard and the engine need to
    /// stop the builds in time.
    private nonisolated func renew(workers: Int, pool: PostgresPool?) async throws(StorageError) -> Bool {
        let store = store, node = node
        let result = await withCheckedContinuation {
            (continuation: CheckedContinuation<Result<Bool, StorageError>, Never>) in
            Self.databaseQueue.async {
                do throws(StorageError) {
                    guard let pool else {
                        continuation.resume(returning: .success(try store.heartbeat(node: node, workers: workers)))
                        return
                    }
                    continuation.resume(
                        returning: .success(try store.heartbeat(node: node, workers: workers, pool: pool)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    /// Where the cluster's own blocking statements (renewals, claims) wait, instead of on a
    /// cooperative thread. Concurrent: a stuck renewal does not hold up a claim.
    static let databaseQueue = DispatchQueue(label: "jobcontrol.cluster.database", attributes: .concurrent)

    /// Claims up to `limit` queued builds, off the cooperative threads (``databaseQueue``).
    private nonisolated func claim(limit: Int) async throws(StorageError) -> [Build] {
        let store = store, node = node
        // Builds of a pool that is full here stay in the queue for the others (they used to pile
        // up on whichever daemon had free workers, waiting there while others sat idle).
        let full = engine.pool.fullPools
        let excluded =
            full.isEmpty
            ? [] : Set(await engine.config.jobs.filter { job in job.pool.map(full.contains) ?? false }.map(\.id))
        let result = await withCheckedContinuation {
            (continuation: CheckedContinuation<Result<[Build], StorageError>, Never>) in
            Self.databaseQueue.async {
                do throws(StorageError) {
                    continuation.resume(
                        returning: .success(try store.claimQueuedBuilds(node: node, limit: limit, excluding: excluded)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    /// Finishes the builds of daemons whose lease expired and retries those whose job allows it.
    private func recoverExpired() async {
        let recovery: ClusterRecovery
        // The failures notify like any other, in the recovery's transaction.
        let config = await engine.config
        let engine = engine
        let notify: @Sendable (Int64, String, JSONValue) -> NotificationTrigger? = { id, jobID, buildConfig in
            engine.failureTrigger(
                for: Build(id: id, jobID: jobID, config: buildConfig), exception: Self.lostException, config: config)
        }
        do {
            recovery = try store.recoverExpiredNodes(exception: Self.lostException.json, notify: notify)
        } catch {
            logger.error("cannot recover the builds of dead daemons", metadata: ["error": "\(error)"])
            return
        }
        guard !recovery.nodes.isEmpty else { return }
        if recovery.notified > 0 { engine.notificationWake.signal() }
        var retried: [String] = []
        for build in recovery.failed {
            // Its trigger says which attempt it was (read back: the recovery returns ids only).
            let crashed =
                (try? engine.storage.getBuild(build.id)).flatMap { $0 } ?? Build(id: build.id, jobID: build.jobID)
            if let retry = await CrashRecovery.retryIfAllowed(
                crashed, engine: engine, storage: engine.storage, logger: logger)
            {
                retried.append("\(build.id)->\(retry)")
            }
        }
        logger.warning(
            "recovered the builds of daemons whose lease expired",
            metadata: [
                "nodes": "\(recovery.nodes)", "builds.failed": "\(recovery.failed.map(\.id))",
                "builds.requeued": "\(recovery.released)",
                "builds.retried": "\(retried)",
            ])
    }

    /// What an earlier run of this node left: its running builds fail (their orphans stopped),
    /// its claimed ones go back to the queue, and orphans of builds the others recovered while
    /// it was down are stopped.
    private func recoverOwnLeftovers() async throws(StorageError) {
        let leftovers = try store.leftovers(node: node)
        guard !leftovers.running.isEmpty || !leftovers.claimed.isEmpty || !leftovers.recoveredElsewhere.isEmpty else {
            return
        }
        var report = try await CrashRecovery.finishCrashed(
            leftovers.running, engine: engine, storage: store, logger: logger)
        report.orphansStopped += await CrashRecovery.stopOrphans(of: leftovers.recoveredElsewhere)
        for entry in leftovers.recoveredElsewhere { try store.clearBuildProcess(entry.build.id) }
        for id in leftovers.claimed {
            try store.releaseBuild(id, node: node)
            report.requeued.append(id)
        }
        CrashRecovery.log(report, logger: logger)
    }
}
