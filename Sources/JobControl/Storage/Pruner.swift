import Dispatch
import FoundationEssentials
import Glibc

/// What a prune removed (or, in a dry run, would remove).
public struct PruneReport: Sendable, Hashable {
    public var logRecords: Int = 0
    /// Build ids by job.
    public var builds: [String: [Int64]] = [:]
    /// Delivered and given-up notifications removed (not counted in a dry run).
    public var notifications = 0
    /// Builds due for removal whose job has a `cleanup_function`, by job: left in storage by
    /// ``Pruner/run(config:storage:now:dryRun:)`` for ``BuildEngine/prune(now:dryRun:)`` to delete
    /// through that function (which may refuse, keeping the build).
    public var dueForCleanup: [String: [Int64]] = [:]

    public init() {}

    public var buildCount: Int { builds.values.reduce(0) { $0 + $1.count } }
}

/// Applies the retention policies of a configuration to storage: log records by level and age,
/// finished builds per job (the job's own `build_retention`, else the daemon's). Jobs that are no
/// longer configured keep being pruned by the daemon's policy, so their history does not grow
/// forever. Delivered and given-up notifications go after `notifications.retention`. The builds
/// of a job with a `cleanup_function` are left for the engine to delete through that function
/// (``BuildEngine/prune(now:dryRun:)``, which the daemon uses).
public enum Pruner {
    public static func run(config: DaemonConfig, storage: any Storage, now: Date = Date(), dryRun: Bool)
        throws(StorageError) -> PruneReport
    {
        var report = PruneReport()
        for band in config.logRetention.bands {
            report.logRecords += try storage.pruneLogMessages(
                LogPruneFilter(maxAge: band.maxAge, level: band.upTo, levelAbove: band.above, now: now), dryRun: dryRun)
        }
        let configured = Dictionary(config.jobs.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        for jobID in try storage.jobIDs() {
            guard let policy = configured[jobID]?.buildRetention ?? config.buildRetention, !policy.isEmpty else {
                continue
            }
            // A job with a cleanup function has its builds deleted through it, one by one.
            let throughCleanup = configured[jobID]?.cleanupFunction != nil && !dryRun
            let ids = try storage.pruneBuilds(jobID: jobID, policy: policy, now: now, dryRun: dryRun || throughCleanup)
            if !ids.isEmpty {
                if throughCleanup { report.dueForCleanup[jobID] = ids } else { report.builds[jobID] = ids }
            }
        }
        if !dryRun {
            report.notifications = try storage.pruneNotifications(
                before: now.addingTimeInterval(-config.notifications.retention))
        }
        return report
    }
}
