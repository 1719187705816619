import Foundation
import Logging

/// What a daemon does at start with the builds a previous one left unfinished (it crashed, was
/// killed, or the machine went down):
///
/// - a build that was **running** is finished as failed (`DaemonRestarted`), after its orphaned
///   processes are found and stopped (``ProcessGroups``); if its job has `retries`, a new build
///   of the job runs in its place;
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

    public static func run(engine: BuildEngine, storage: any Storage, logger: Logger) async throws(StorageError) -> Report {
        var report = Report()
        let unfinished = try storage.unfinishedBuilds()
        let running = unfinished.filter { $0.build.started }
        // Orphans first, all groups at once: each may take the termination grace to go.
        report.orphansStopped = await withTaskGroup(of: Int.self) { group in
            for entry in running {
                guard let processGroup = entry.processGroup, let start = entry.processStartTicks else { continue }
                group.addTask { await ProcessGroups.stopOrphans(group: processGroup, startTicks: start) }
            }
            return await group.reduce(0, +)
        }
        let config = await engine.config
        for entry in running {
            let build = entry.build
            let reason = BuildException(
                type: "DaemonRestarted",
                message: "jobcontrold stopped while this build was running (it crashed, was killed, or the machine went down); its processes were stopped at the next start")
            try storage.finishBuild(build.id, success: false, skipped: false, retval: nil, exception: reason.json, exceptionTraceback: nil)
            report.failed.append(build.id)
            guard let job = config.job(build.jobID), let retry = job.retry, retry.count > 0, job.enabled else { continue }
            do {
                let trigger: JSONValue = ["kind": "retry", "after_crash_of": .int(build.id)]
                let replacement = try await engine.run(jobID: build.jobID, force: true, trigger: trigger)
                report.retried.append((build.id, replacement.id))
            } catch {
                logger.error("cannot retry a build after the crash", metadata: ["build.id": "\(build.id)", "error": "\(error)"])
            }
        }
        for entry in unfinished where !entry.build.started {
            do {
                try await engine.requeue(entry.build)
                report.requeued.append(entry.build.id)
            } catch {
                let reason = BuildException(type: "NotRun", message: "queued before a restart, but could not run after it: \(error)")
                try storage.finishBuild(entry.build.id, success: false, skipped: false, retval: nil, exception: reason.json, exceptionTraceback: nil)
                report.failed.append(entry.build.id)
            }
        }
        if !unfinished.isEmpty {
            logger.warning(
                "recovered builds left unfinished by an earlier daemon",
                metadata: [
                    "builds.failed": "\(report.failed)", "builds.requeued": "\(report.requeued)",
                    "builds.retried": "\(report.retried.map { "\($0.0)->\($0.1)" })", "orphans.stopped": "\(report.orphansStopped)",
                ])
        }
        return report
    }
}
