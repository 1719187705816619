import FoundationEssentials

/// `concurrency: replace`: the running build is cancelled and has ended (its grace period, then
/// SIGKILL) before the new one starts, so the two never overlap. The wait runs in a task of its
/// own: it holds up neither the other jobs' occurrences nor the scheduler's loop (it used to run
/// inside the tick, so every other job due meanwhile started up to 15 s late).
extension Scheduler {
    /// Cancels `running` and starts the occurrence `due` once they have ended. Bounded: a build
    /// still not recorded as ended by then (the storage down, say) does not hold the schedule.
    func replace(_ jobID: String, running: [Int64], due: Int64, detail: String?) async {
        let note = detail ?? "replaced build \(running.map(String.init).joined(separator: ", ")) (concurrency: replace)"
        let reason = BuildException(
            type: "Cancelled", message: "the build was replaced by the next scheduled occurrence (concurrency: replace)"
        )
        // Marked before the cancels are awaited: an occurrence fired meanwhile supersedes this one.
        replacing[jobID] = (due, note)
        for build in running {
            do { try await engine.cancel(buildID: build, reason: reason) } catch {
                logger.warning(
                    "cannot cancel the running build to replace it",
                    metadata: ["job.id": "\(jobID)", "build.id": "\(build)", "error": "\(error)"])
            }
        }
        Task { await self.startReplacement(jobID, replacing: running) }
    }

    /// A newer occurrence of the job came while a replacement waits for the build it replaces to
    /// end: the newer one starts then instead, and the older is recorded as skipped.
    func supersedeReplacement(_ jobID: String, due: Int64) {
        guard let waiting = replacing[jobID] else { return }
        // An older one fired late (it waited for a start of the job) does not replace a newer.
        guard due > waiting.due else {
            claim(
                jobID, due: due, outcome: .skipped,
                detail: "a newer occurrence waits for the build it replaces to end (concurrency: replace)")
            return
        }
        claim(
            jobID, due: waiting.due, outcome: .skipped,
            detail: "a newer occurrence came while it waited for the build it replaces to end (concurrency: replace)")
        replacing[jobID] = (due, waiting.detail)
    }

    private func startReplacement(_ jobID: String, replacing builds: [Int64]) async {
        let deadline = ContinuousClock.now + CommandFunction.terminationGrace + .seconds(10)
        while !stopped, !runningBuilds(jobID).filter(builds.contains).isEmpty, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        guard let next = replacing.removeValue(forKey: jobID) else { return }
        // What changed during the wait decides: the daemon stopping (the occurrence stays
        // unrecorded; the next start's recovery sees it), the schedules gone to another daemon,
        // or the job suspended, disabled or removed.
        guard !stopped, leading else { return }
        guard jobs[jobID]?.enabled == true, !suspended.contains(jobID) else {
            claim(
                jobID, due: next.due, outcome: .skipped,
                detail: "the job was suspended, disabled or removed while the build it replaces ended")
            return
        }
        await startBuild(jobID, due: next.due, detail: next.detail)
    }
}
