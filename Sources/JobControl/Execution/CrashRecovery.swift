import Dispatch
import FoundationEssentials
import Glibc
import Logging

/// What a daemon does at start with the builds a previous one left unfinished (it crashed, was
/// killed, or the machine went down):
///
/// - a build that was **running** is finished as failed (`DaemonRestarted`), after its orphaned
///   processes are found and stopped (its cgroup, its process group, and what carries its
///   environment: ``ProcessGroups``); if its job has `retries`, a new build of the job runs in
///   its place;
/// - a build that was **queued** (created, never started) runs now, keeping its id and pins;
///   one whose job is gone or disabled is finished as failed (`NotRun`).
///
/// Nothing acknowledged is lost: log lines a build stored before the crash stay with it.
public enum CrashRecovery {
    public struct Report: Sendable {
        public var failed: [Int64] = []
        public var requeued: [Int64] = []
        /// (the crashed build, the build that retries it)
        public var retried: [(Int64, Int64)] = []
        public var orphansStopped = 0
    }

    /// `previousDaemon`: the pid of the daemon that had the database before (its lock file's),
    /// whose cgroups are searched for builds whose cgroup was never recorded.
    /// `only`: the builds to recover (those an earlier daemon left, read before this daemon
    /// started any); nil for every unfinished one. A recovery retried later must not take this
    /// daemon's own builds for crashed ones.
    public static func run(
        engine: BuildEngine, storage: any Storage, logger: Logger, previousDaemon: Int32? = nil,
        only: Set<Int64>? = nil
    ) async throws(StorageError) -> Report {
        // A recovery retried later (its storage was full or away) finds the builds an earlier
        // attempt requeued still unfinished: they are this daemon's now, queued or running, and
        // are neither queued again nor stopped as crashed.
        let ours = await engine.inFlight
        let unfinished = try storage.unfinishedBuilds().filter {
            (only?.contains($0.build.id) ?? true) && !ours.contains($0.build.id)
        }
        var report = try await finishCrashed(
            unfinished.filter { $0.build.started }, engine: engine, storage: storage, logger: logger,
            previousDaemon: previousDaemon)
        for entry in unfinished where !entry.build.started {
            do {
                try await engine.requeue(entry.build)
                report.requeued.append(entry.build.id)
            } catch {
                let reason = BuildException(
                    type: "NotRun", message: "queued before a restart, but could not run after it: \(error)")
                try storage.finishBuild(
                    entry.build.id, success: false, skipped: false, retval: nil, exception: reason.json,
                    exceptionTraceback: nil)
                DaemonMetrics.shared.buildFinished(job: entry.build.jobID, result: "failed", duration: nil, at: Date())
                report.failed.append(entry.build.id)
            }
        }
        if !unfinished.isEmpty { log(report, logger: logger) }
        return report
    }

    static let restartedException = BuildException(
        type: "DaemonRestarted",
        message:
            "jobcontrold stopped while this build was running (it crashed, was killed, or the machine went down); its processes were stopped at the next start"
    )

    /// Stops the orphaned processes of builds that were running when the daemon died, finishes
    /// the builds as failed (`DaemonRestarted`), and retries those whose job has `retries`.
    static func finishCrashed(
        _ running: [UnfinishedBuild], engine: BuildEngine, storage: any Storage, logger: Logger,
        previousDaemon: Int32? = nil
    ) async throws(StorageError) -> Report {
        var report = Report()
        // A build whose start was committed but whose cgroup was not (the daemon died between
        // the start's commit and the process record's): its cgroups are found by name.
        let running = running.map { entry in
            guard entry.cgroup == nil else { return entry }
            var entry = entry
            let found = CgroupHost.leftBehind(buildID: entry.build.id, daemon: previousDaemon)
            if !found.isEmpty { entry.cgroup = found }
            return entry
        }
        report.orphansStopped = await stopOrphans(of: running)
        let config = await engine.config
        // What daemonized out of its group (and, without cgroups, out of everything else): found
        // by the build's environment.
        report.orphansStopped += await ProcessGroups.stopCarrying(
            buildIDs: Set(running.map(\.build.id)), socket: config.socket, grace: CommandFunction.terminationGrace)
        for entry in running {
            // The failure notifies as any other, in the same transaction as the build's end.
            let notify = engine.failureTrigger(for: entry.build, exception: restartedException, config: config)
            try await storage.finishBuildAsync(
                entry.build.id, at: Date(), success: false, skipped: false, retval: nil,
                exception: restartedException.json, exceptionTraceback: nil, notify: notify)
            if let notify, notify.written.value > 0 { engine.notificationWake.signal() }
            DaemonMetrics.shared.buildFinished(job: entry.build.jobID, result: "failed", duration: nil, at: Date())
            report.failed.append(entry.build.id)
            if let retry = await retryIfAllowed(entry.build, engine: engine, storage: storage, logger: logger) {
                report.retried.append((entry.build.id, retry))
            }
        }
        return report
    }

    /// Stops what the builds left running (all at once: each may take the termination grace):
    /// everything in a build's cgroup, then what is left of its recorded process group; the
    /// cgroup is removed.
    static func stopOrphans(of builds: [UnfinishedBuild]) async -> Int {
        await withTaskGroup(of: Int.self) { group in
            for entry in builds {
                group.addTask {
                    var stopped = 0
                    if let paths = entry.cgroup {
                        let cgroup = BuildCgroup(storedPaths: paths)
                        stopped += await cgroup.stop(grace: CommandFunction.terminationGrace)
                        cgroup.remove()
                        // The dead daemon's subtree, once its last build is gone (not while
                        // another build of it is still being recovered: rmdir refuses then).
                        for path in paths {
                            let parent = path.parentPath
                            let name = parent.lastPathComponentText
                            if name.hasPrefix("jobcontrol-"), name != "jobcontrol-\(getpid())" { rmdir(parent) }
                        }
                    }
                    if let processGroup = entry.processGroup, let start = entry.processStartTicks {
                        stopped += await ProcessGroups.stopOrphans(group: processGroup, startTicks: start)
                    }
                    return stopped
                }
            }
            return await group.reduce(0, +)
        }
    }

    /// A new build of the job in place of one a dead daemon left, when the job has `retries` and
    /// they are not used up: the builds that replaced crashed ones count as attempts, so a job
    /// that takes the daemon down with it runs at most `1 + count` times, not once per restart.
    /// The attempts a crashed build made count too: its first one is `trigger.attempt` (1 for
    /// a build that replaced none), and each retry it began logged "attempt N starts". A crash
    /// during the wait before a retry leaves that retry to the replacement.
    static func retryIfAllowed(_ crashed: Build, engine: BuildEngine, storage: any Storage, logger: Logger) async
        -> Int64?
    {
        let id = crashed.id
        let jobID = crashed.jobID
        guard let job = await engine.config.job(jobID), let retry = job.retry, retry.count > 0, job.enabled else {
            return nil
        }
        let trigger = crashed.config["build"]?["trigger"]
        let first = trigger?["kind"] == "retry" ? trigger?["attempt"]?.intValue ?? 2 : 1
        let started =
            // The newest lines: the last "starts" is in the last attempt's output, bounded (one
            // past a flood of 50,000 lines counts as not found, and leaves the replacement more).
            (try? storage.iterLogMessages(
                LogQuery(buildID: id, minLevel: LogLevel.info.rawValue, limit: 50_000, newestFirst: true)))?
            .filter { $0.logger == "jobcontrol" }.compactMap { BuildEngine.startedAttempt($0.message) }.max()
        // The last attempt that began: the one the crash interrupted, or the one whose failure it
        // was waiting to retry.
        let attempt = max(first, started ?? first)
        guard attempt <= retry.count else {
            logger.warning(
                "not retrying a build after the crash: its retries are used up",
                metadata: ["build.id": "\(id)", "attempt": "\(attempt)", "retries": "\(retry.count)"])
            return nil
        }
        do {
            let trigger: JSONValue = ["kind": "retry", "after_crash_of": .int(id), "attempt": .int(Int64(attempt) + 1)]
            return try await engine.run(jobID: jobID, force: true, trigger: trigger).id
        } catch {
            logger.error("cannot retry a build after the crash", metadata: ["build.id": "\(id)", "error": "\(error)"])
            return nil
        }
    }

    static func log(_ report: Report, logger: Logger) {
        logger.warning(
            "recovered builds left unfinished by an earlier daemon",
            metadata: [
                "builds.failed": "\(report.failed)", "builds.requeued": "\(report.requeued)",
                "builds.retried": "\(report.retried.map { "\($0.0)->\($0.1)" })",
                "orphans.stopped": "\(report.orphansStopped)",
            ])
    }
}
