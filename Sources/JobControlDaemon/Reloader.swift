import Dispatch
import FoundationEssentials
import Glibc
import JobControl
import JobControlSystemd
import Logging
import Synchronization

/// Reloads the configuration on SIGHUP or `jobctl reload`: the new file is loaded and validated
/// completely before it replaces the running configuration; on any error nothing changes.
///
/// Ownership: `last` (the outcome of the previous reload) and `queue` (the last reload started)
/// are guarded by their mutexes; each reload waits for the one before it.
final class Reloader: Sendable {
    let options: DaemonOptions
    let registry: FunctionRegistry
    let engine: BuildEngine
    let scheduler: Scheduler
    let notifier: Notifier
    let logger: Logger
    private let last = Mutex<ReloadStatus?>(nil)

    init(
        options: DaemonOptions, registry: FunctionRegistry, engine: BuildEngine, scheduler: Scheduler,
        notifier: Notifier, logger: Logger
    ) {
        self.options = options
        self.registry = registry
        self.engine = engine
        self.scheduler = scheduler
        self.notifier = notifier
        self.logger = logger
    }

    var lastStatus: ReloadStatus? { last.withLock { $0 } }

    /// Loads, validates and applies the configuration file. Returns the outcome (also kept for
    /// ``lastStatus``). Reloads run one after another, end to end (SIGHUP and `jobctl reload`
    /// may arrive together): the engine and the scheduler always run the same configuration.
    /// Nil, with nothing read or applied, once the daemon is stopping (`STOPPING=1` was sent).
    @discardableResult
    func reload() async -> ReloadStatus? {
        let task = queue.withLock { previous -> Task<ReloadStatus?, Never> in
            let earlier = previous
            let task = Task { [self] in
                _ = await earlier?.value
                return await reloadNow()
            }
            previous = task
            return task
        }
        return await task.value
    }

    /// The last reload started; the next one waits for it.
    private let queue = Mutex<Task<ReloadStatus?, Never>?>(nil)

    private func reloadNow() async -> ReloadStatus? {
        guard notifier.reloading(monotonicMicroseconds: Self.monotonicMicroseconds()) else { return nil }
        let status: ReloadStatus
        let files = Set([options.configFile] + (await engine.config.jobs.compactMap { $0.location?.file }))
        let settled = await Self.settle(Array(files))
        do throws(ConfigError) {
            // Still changing after the wait: whatever is read now may be half written.
            guard settled else {
                throw ConfigError(
                    file: options.configFile,
                    "the configuration files kept changing for \(Int(Self.settleLimit)) s; nothing was loaded, reload again once they are written"
                )
            }
            let config = try Daemon.loadConfig(options, registry: registry)
            let before = Set(await engine.config.jobs.map(\.id))
            let needsRestart = await engine.replaceConfig(config)
            // The configuration as applied: what needs a restart (the node's name, say) keeps
            // its running value, also for a scheduler that takes over the schedules later.
            await scheduler.update(config: await engine.config)
            if config.http != nil {
                Daemon.seedLastSuccess(config.jobs.map(\.id).filter { !before.contains($0) }, storage: engine.storage)
            }
            status = ReloadStatus(time: Date(), errors: nil, needsRestart: needsRestart)
            logger.info(
                "configuration reloaded",
                metadata: ["jobs": "\(config.jobs.count)", "restart.needed": "\(needsRestart.joined(separator: ","))"])
        } catch {
            status = ReloadStatus(time: Date(), errors: error, needsRestart: [])
            logger.error(
                "configuration reload failed; the previous configuration keeps running",
                metadata: ["errors": "\(error.description)"])
        }
        last.withLock { $0 = status }
        let jobs = await engine.config.jobs.count
        notifier.ready(status: "\(jobs) jobs; \(status.summary)")
        return status
    }

    /// How long the configuration files must have been left alone before a reload reads them.
    static let settleTime: TimeInterval = 0.5

    /// How long a reload waits for the files to settle before it gives up.
    static let settleLimit: TimeInterval = 5

    /// Waits (``settleLimit`` at most) until none of `files` changed within ``settleTime``: a file
    /// being rewritten in place (truncated, then written in pieces) is read once its writer is
    /// done, not half-written. False when they were still changing at the limit: the reload then
    /// loads nothing (the loader's own check, a file that changes while it is read, cannot see a
    /// writer that pauses between its pieces). On a busy machine a writer can pause for long.
    static func settle(_ files: [String]) async -> Bool {
        let deadline = Date().addingTimeInterval(settleLimit)
        while Date() < deadline {
            let newest =
                files.compactMap { file -> TimeInterval? in
                    var info = stat()
                    guard stat(file, &info) == 0 else { return nil }
                    return TimeInterval(info.st_mtim.tv_sec) + TimeInterval(info.st_mtim.tv_nsec) / 1e9
                }.max() ?? 0
            let age = Date().timeIntervalSince1970 - newest
            if age >= settleTime { return true }
            try? await Task.sleep(for: .seconds(min(settleTime - max(age, 0), settleTime)))
        }
        return false
    }

    static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
    }
}
