import FoundationEssentials
import Glibc
import Logging

/// Suspending and resuming a job's schedule (kept across restarts), and passing over the
/// occurrences due meanwhile.
extension Scheduler {
    /// Suspends a job's schedule (kept across restarts) until ``resume(_:)``.
    public func suspend(_ jobID: String) throws(EngineError) {
        guard jobs[jobID] != nil else { throw .notScheduled(jobID) }
        do { try storage.setSuspended(jobID: jobID, true) } catch { throw .storage(error) }
        suspended.insert(jobID)
        dropQueue(of: jobID)
        logger.info("schedule suspended", metadata: ["job.id": "\(jobID)"])
        rearm()
    }

    /// What waits in a suspended job's queue (`concurrency: queue`) does not run, as what falls
    /// due while it is suspended does not: each is recorded skipped. (They went on starting,
    /// one after another, after the suspend.)
    func dropQueue(of jobID: String) {
        guard let queue = jobs[jobID]?.queue, !queue.isEmpty else { return }
        for due in queue { skipQueued(jobID, due: due, because: "not started: the schedule was suspended") }
        jobs[jobID]?.queue = []
    }

    /// Resumes a suspended schedule from now on (what it missed while suspended does not run).
    public func resume(_ jobID: String) throws(EngineError) {
        guard var state = jobs[jobID] else { throw .notScheduled(jobID) }
        // A job that was not suspended (here, or by another daemon of the cluster) has nothing
        // to pass over: an occurrence due this instant is the scheduler's, not "suspended".
        let wasSuspended =
            suspended.contains(jobID) || ((try? storage.suspendedJobs())?.contains(jobID) ?? false)
        do { try storage.setSuspended(jobID: jobID, false) } catch { throw .storage(error) }
        suspended.remove(jobID)
        guard wasSuspended else { return }
        passOver(jobID, &state, until: now(), because: "the schedule was suspended")
        jobs[jobID] = state
        logger.info("schedule resumed", metadata: ["job.id": "\(jobID)"])
        rearm()
    }

    /// Reads which jobs are suspended again: another daemon sharing the database suspended or
    /// resumed one.
    public func refreshSuspended() {
        guard let current = try? storage.suspendedJobs(), current != suspended else { return }
        for jobID in current.subtracting(suspended) { dropQueue(of: jobID) }
        for jobID in suspended.subtracting(current) {
            guard var state = jobs[jobID] else { continue }
            state.cursor = max(state.cursor, now())
            state.computeNext(jobID: jobID)
            jobs[jobID] = state
        }
        suspended = current
        rearm()
    }

    /// Moves a job's cursor to `current` without running what fell before it. The newest
    /// occurrence passed over is recorded, skipped, with `reason` (and no notification): a
    /// restart's recovery counts from the last recorded occurrence, and would otherwise run or
    /// report as missed what was passed over on purpose.
    func passOver(_ jobID: String, _ state: inout JobState, until current: Int64, because reason: String) {
        let passed = state.policy.newestOccurrences(after: state.cursor, through: current, count: 100)
        if leading, let newest = passed.dues.last {
            let count =
                passed.dues.count > 1 ? " (\(passed.dues.count)\(passed.complete ? "" : " or more") passed over)" : ""
            _ = claim(jobID, due: newest, outcome: .skipped, detail: reason + count, notifying: false)
        }
        state.cursor = max(state.cursor, current)
        state.computeNext(jobID: jobID)
    }
}
