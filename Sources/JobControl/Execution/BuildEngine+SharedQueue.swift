import Dispatch
import FoundationEssentials
import Glibc
import Logging

/// How the engine reaches the other daemons sharing its database.
struct SharedQueue: Sendable {
    let node: String
    let store: any ClusterStore
    /// Wakes this daemon's claimer (a build was queued, or a worker became free).
    let wake: @Sendable () -> Void

    /// Cancels a build this daemon does not run: a queued one is finished here, a claimed one is
    /// cancelled by the daemon that runs it, told through the database.
    func cancelElsewhere(_ id: Int64, reason: BuildException) throws(EngineError) {
        do {
            if try store.cancelQueuedBuild(id, exception: reason.json) { return }
            try store.notifyCluster("cancel:\(id)")
        } catch {
            throw .storage(error)
        }
    }
}

extension BuildEngine {
    /// From now on, builds go to the database's shared queue instead of this daemon's pool;
    /// the daemon runs the builds it claims (``adopt(_:)``). `wake` starts a claim.
    func shareQueue(node: String, store: any ClusterStore, wake: @escaping @Sendable () -> Void) {
        sharedQueue = SharedQueue(node: node, store: store, wake: wake)
    }

    /// Runs a build this daemon claimed from the shared queue. One whose job is not configured
    /// here (or disabled) ends FAILED (`NotRun`) rather than bouncing between daemons; when the
    /// daemon is stopping, the build goes back to the queue for the others.
    func adopt(_ build: Build) {
        guard let sharedQueue else { return }
        guard accepting else {
            do { try sharedQueue.store.releaseBuild(build.id, node: sharedQueue.node) } catch {
                logger.warning(
                    "cannot give a claimed build back", metadata: ["build.id": "\(build.id)", "error": "\(error)"])
            }
            gaveBack([build.id])
            return
        }
        guard let job = config.job(build.jobID), job.enabled else {
            cancelRequested.removeValue(forKey: build.id)  // it ends here either way
            let reason = BuildException(
                type: "NotRun",
                message:
                    "node '\(sharedQueue.node)' claimed the build, but job '\(build.jobID)' is not configured or not enabled there; give every daemon of the cluster the same jobs"
            )
            do {
                try storage.finishBuild(
                    build.id, success: false, skipped: false, retval: nil, exception: reason.json,
                    exceptionTraceback: nil)
            } catch {
                logger.error(
                    "cannot record a build that could not run",
                    metadata: ["build.id": "\(build.id)", "error": "\(error)"])
            }
            return
        }
        submit(build, of: job, message: "build claimed")
        // Cancelled between its claim and now (``cancelFromCluster(_:)``): it starts at once,
        // outside the pool's limits, only to end Cancelled.
        if let reason = cancelRequested[build.id] { requestCancel(build.id, reason: reason) }
    }

    /// Another daemon asked to cancel a build; it is cancelled if it runs here, or if it was
    /// claimed here and is about to: the claim's commit can come before the other daemon looked
    /// for the build in the queue, and its adoption after the notification. Such a build ends
    /// Cancelled when adopted, without running. One given back to the queue meanwhile is
    /// finished there.
    func cancelFromCluster(_ id: Int64) {
        if inFlight.contains(id) {
            requestCancel(id, reason: Self.cancelledException)
            return
        }
        guard let sharedQueue, let build = try? storage.getBuild(id), !build.finished, !build.started else { return }
        if build.node == sharedQueue.node {
            cancelRequested[id] = Self.cancelledException
        } else if build.node == nil {
            _ = try? sharedQueue.store.cancelQueuedBuild(id, exception: Self.cancelledException.json)
        }
    }

    /// Claimed builds this daemon gave back to the queue without running them: one cancelled
    /// meanwhile (``cancelFromCluster(_:)``) is finished there, Cancelled, instead of being run
    /// by another daemon.
    func gaveBack(_ ids: [Int64]) {
        guard let sharedQueue else { return }
        for id in ids {
            guard let reason = cancelRequested.removeValue(forKey: id) else { continue }
            do { _ = try sharedQueue.store.cancelQueuedBuild(id, exception: reason.json) } catch {
                logger.warning(
                    "cannot finish a cancelled build given back to the queue",
                    metadata: ["build.id": "\(id)", "error": "\(error)"])
            }
        }
    }

    /// A build ended (on any daemon): whoever waits for it here is told.
    func finishedInCluster(_ id: Int64) {
        guard !inFlight.contains(id) else { return }  // ours: told when it ends here
        for waiter in waiters.removeValue(forKey: id) ?? [] { waiter.resume(returning: nil) }
    }

    /// Looks in storage for builds waited on here that ended elsewhere (a notification can be lost
    /// while the listening connection is down).
    func recheckWaiters() {
        // A build that ended, or cannot be read, wakes its waiters: they read it again themselves.
        for id in waiters.keys where !inFlight.contains(id) {
            if let build = try? storage.getBuild(id), !build.finished { continue }
            for waiter in waiters.removeValue(forKey: id) ?? [] { waiter.resume(returning: nil) }
        }
    }

    /// The daemon lost its lease (it could not reach the database for longer than the lease, or
    /// was declared dead): the others recover its builds, so it stops running them.
    /// Builds it claimed but had not started are only dropped here: the recovery gives them back
    /// to the queue, and recording them (as cancelled) would overwrite what another daemon then
    /// runs. Whoever waits for them here is told when they end elsewhere.
    func abandonBuilds(reason: BuildException) {
        let unstarted = pool.dropWaiting(keys: inFlight)
        inFlight.subtract(unstarted)
        for id in unstarted { heldParameters.removeValue(forKey: id) }
        cancelAll(inFlight, reason: reason)
    }
}
