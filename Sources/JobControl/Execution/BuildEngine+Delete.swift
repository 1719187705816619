import Dispatch
import FoundationEssentials
import Glibc

extension BuildEngine {
    /// Deletes a finished build with its progress and log. If its job has a `cleanup_function`,
    /// that function is called first with the build record (as JSON, its only argument); if it
    /// fails, the build is kept and the failure is the error. While that function runs, a run
    /// that would pin the build is refused (`badPin`), and a second delete of the build
    /// (retention beside `jobctl delete`) waits for this one, then finds the build gone (or kept,
    /// and tries again): on one daemon, the function never runs twice at once for one build (the
    /// daemons of a cluster do not coordinate this).
    public func delete(buildID: Int64) async throws(EngineError) {
        while deleting[buildID] != nil {
            await withCheckedContinuation { deleting[buildID, default: []].append($0) }
            // A waiter whose caller went away (a client that hung up, retention at a stop)
            // does not go on to delete for nobody.
            if Task.isCancelled { throw .shuttingDown }
        }
        // Until the build is gone or kept, no build created here pins it (``prepare``); in a
        // cluster another daemon may, which the check after the cleanup catches.
        deleting[buildID] = []
        defer { for waiter in deleting.removeValue(forKey: buildID) ?? [] { waiter.resume() } }
        let found: Build?
        do { found = try storage.getBuild(buildID) } catch { throw .storage(error) }
        guard let build = found else { throw .noSuchBuild(buildID) }
        guard build.finished else { throw .buildRunning(buildID) }
        // A queued or running build that pinned it reads its return value when it starts (or
        // has): deleting it now would fail that build (`RetvalUnavailable`). Retention keeps
        // pinned builds for the same reason.
        try refuseIfPinned(buildID)
        if let job = config.job(build.jobID), let name = job.cleanupFunction {
            guard let cleanup = registry.function(name) ?? job.cleanupPython.map(PythonFunction.make) else {
                throw .cleanupFailed(build: buildID, reason: "cleanup function '\(name)' is not registered")
            }
            let context = BuildContext(
                buildID: buildID, jobID: build.jobID, socketPath: nil, storage: storage, logger: logger)
            do {
                _ = try await cleanup(context, [build.json], [:])
            } catch {
                logger.error(
                    "cleanup function failed; build kept", metadata: ["build.id": "\(buildID)", "error": "\(error)"])
                throw .cleanupFailed(build: buildID, reason: BuildException(wrapping: error).description)
            }
            // The cleanup awaited: a build another daemon created meanwhile may have pinned this one.
            try refuseIfPinned(buildID)
        }
        do { try storage.deleteBuild(buildID) } catch { throw .storage(error) }
        logger.info("build deleted", metadata: ["job.id": "\(build.jobID)", "build.id": "\(buildID)"])
    }

    /// `buildInUse` when a queued or running build pinned `buildID` as a dependency.
    private func refuseIfPinned(_ buildID: Int64) throws(EngineError) {
        let unfinished: [UnfinishedBuild]
        do { unfinished = try storage.unfinishedBuilds() } catch { throw .storage(error) }
        if let user = unfinished.first(where: { entry in
            entry.build.config["build"]?["dependency_builds"]?.objectValue?.values.contains { $0.intValue == buildID }
                ?? false
        }) {
            throw .buildInUse(buildID, by: user.build.id)
        }
    }

    /// Applies the retention policies (``Pruner``); the builds due of a job with a
    /// `cleanup_function` are deleted as ``delete(buildID:)`` deletes them, after that function,
    /// and one it refuses stays (logged; it is due again at the next run).
    ///
    /// The policies are applied on a thread of their own, off this actor and the cooperative
    /// threads: over a long history (a million builds) they take seconds, and builds must start,
    /// `jobctl` be answered and the watchdog be fed meanwhile (the actor used to be held for the
    /// whole prune, 35 s at a million builds, which the watchdog would have killed at each start).
    public nonisolated func prune(now: Date = Date(), dryRun: Bool) async throws(StorageError) -> PruneReport {
        let config = await self.config
        let storage = self.storage
        let result = await withCheckedContinuation {
            (continuation: CheckedContinuation<Result<PruneReport, StorageError>, Never>) in
            let started = DedicatedThread.startIfPossible(name: "prune") {
                do throws(StorageError) {
                    continuation.resume(
                        returning: .success(try Pruner.run(config: config, storage: storage, now: now, dryRun: dryRun)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            if !started {
                continuation.resume(returning: .failure(StorageError(.query, "cannot start a thread for the prune")))
            }
        }
        var report = try result.get()
        for (jobID, ids) in report.dueForCleanup.sorted(by: { $0.key < $1.key }) {
            for id in ids where !Task.isCancelled {  // the daemon stops: the rest wait for the next prune
                do {
                    try await delete(buildID: id)
                    report.builds[jobID, default: []].append(id)
                } catch {
                    // delete has logged a refusal; anything else is the storage's to say.
                    if case .storage(let failure) = error { throw failure }
                }
            }
        }
        report.dueForCleanup = [:]
        return report
    }
}
