import FoundationEssentials

/// `concurrency: queue`: an occurrence that comes while a build of the job runs waits (up to
/// ``Scheduler/maxQueued``, recorded `queued` in storage) and starts when that build ends, the
/// oldest first; a restart restores the queue from storage.
extension Scheduler {
    /// Drains the job's queue when `build` ends.
    func watch(_ jobID: String, build: Int64) {
        guard jobs[jobID]?.watching == false else { return }
        jobs[jobID]?.watching = true
        Task { [engine] in
            _ = try? await engine.waitUntilFinished(build)
            await self.buildEnded(jobID)
        }
    }

    private func buildEnded(_ jobID: String) async {
        jobs[jobID]?.watching = false
        await drainQueue(jobID)
    }

    /// Starts the oldest queued occurrence when nothing of the job runs.
    func drainQueue(_ jobID: String) async {
        guard !stopped, leading, !suspended.contains(jobID), let state = jobs[jobID], let due = state.queue.first
        else { return }
        if let running = runningBuilds(jobID).last {
            watch(jobID, build: running)
            return
        }
        jobs[jobID]?.queue.removeFirst()
        await startBuild(jobID, due: due, detail: "ran from the queue", fromQueue: true)
        if let started = runningBuilds(jobID).last { watch(jobID, build: started) }
    }
}
