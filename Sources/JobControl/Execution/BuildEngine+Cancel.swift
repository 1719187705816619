import Dispatch
import FoundationEssentials
import Glibc

extension BuildEngine {
    /// Cancels a build: a queued one never starts, a running one has its work cancelled (a
    /// command's process group is torn down). Both end FAILED with a `Cancelled` exception.
    public func cancel(buildID: Int64) throws(EngineError) {
        try cancel(buildID: buildID, reason: Self.cancelledException)
    }

    /// Cancels a build, recording `reason` as its exception (a scheduled replacement says so).
    func cancel(buildID: Int64, reason: BuildException) throws(EngineError) {
        let build: Build?
        do { build = try storage.getBuild(buildID) } catch { throw .storage(error) }
        guard let build else { throw .noSuchBuild(buildID) }
        guard !build.finished else { throw .buildNotRunning(buildID) }
        if let sharedQueue, !inFlight.contains(buildID) {
            try sharedQueue.cancelElsewhere(buildID, reason: reason)
            logger.info(
                "build cancel requested",
                metadata: ["job.id": "\(build.jobID)", "build.id": "\(buildID)", "node": "\(build.node ?? "-")"])
            return
        }
        requestCancel(buildID, reason: reason)
        logger.info("build cancel requested", metadata: ["job.id": "\(build.jobID)", "build.id": "\(buildID)"])
    }

    /// A running build's work is cancelled; one still waiting for a worker starts at once
    /// outside the pool's limits, sees the cancel before it runs anything and is recorded as
    /// cancelled: a `jobctl cancel` takes effect now, and is durable, not only when a worker frees
    /// (a crash before that used to run the build after all).
    func requestCancel(_ buildID: Int64, reason: BuildException) {
        if cancelRequested[buildID] == nil { cancelRequested[buildID] = reason }
        if let canceller = cancellers[buildID] {
            canceller()
        } else {
            _ = pool.startWaiting(key: buildID)
        }
    }

    static let cancelledException = BuildException(
        type: "Cancelled", message: "the build was cancelled (jobctl cancel)")
    static let shutdownException = BuildException(
        type: "Cancelled",
        message: "the build was cancelled because the daemon was stopping and it did not end within stop_timeout",
        details: ["by": "shutdown"])

    /// Graceful stop: no new builds, and none of those waiting for a worker starts (they stay
    /// queued, and the next start runs them: ``CrashRecovery``); running ones get `grace` to end,
    /// then are cancelled (process groups torn down) and recorded as cancelled by the shutdown.
    public nonisolated func drain(grace: Duration) async {
        var waiting = await stopAccepting()
        if !waiting.isEmpty, await giveBackToCluster(waiting) {
            waiting = []
        } else if !waiting.isEmpty {
            logger.notice(
                "stopping: builds waiting for a worker stay queued for the next start",
                metadata: ["build.ids": "\(waiting.sorted())"])
        }
        // Those still waiting are read again each time: one cancelled meanwhile (`jobctl cancel`
        // starts it, to record it) is waited for, so its cancel is written before the exit.
        let deadline = ContinuousClock.now + grace
        while await !inFlight.subtracting(pool.waitingKeys).isEmpty, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        waiting = pool.waitingKeys
        let left = await inFlight.subtracting(waiting)
        guard !left.isEmpty else { return }
        logger.warning(
            "stopping: cancelling builds that did not end in time", metadata: ["build.ids": "\(left.sorted())"])
        await cancelAll(left, reason: Self.shutdownException)
        // Torn-down process groups end within the termination grace.
        let bound = ContinuousClock.now + CommandFunction.terminationGrace + .seconds(5)
        while await !inFlight.subtracting(pool.waitingKeys).isEmpty, ContinuousClock.now < bound {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// In a cluster, builds this daemon claimed and has not started go back to the shared queue
    /// when it stops, for the others (marked stopped, it is never recovered). False without one.
    func giveBackToCluster(_ waiting: Set<Int64>) -> Bool {
        guard let sharedQueue else { return false }
        let dropped = pool.dropWaiting(keys: waiting)
        inFlight.subtract(dropped)
        for id in dropped {
            heldParameters.removeValue(forKey: id)
            do { try sharedQueue.store.releaseBuild(id, node: sharedQueue.node) } catch {
                logger.warning(
                    "cannot give a claimed build back; it goes back when this node starts again",
                    metadata: ["build.id": "\(id)", "error": "\(error)"])
            }
        }
        logger.notice(
            "stopping: claimed builds go back to the shared queue", metadata: ["build.ids": "\(dropped.sorted())"])
        return true
    }

    /// Refuses new builds, and stops the pool admitting waiting ones; returns those.
    func stopAccepting() -> Set<Int64> {
        accepting = false
        return pool.stopAdmitting()
    }

    func cancelAll(_ builds: Set<Int64>, reason: BuildException) {
        for id in builds { requestCancel(id, reason: reason) }
    }
}
