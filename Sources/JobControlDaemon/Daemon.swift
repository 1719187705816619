import Dispatch
import FoundationEssentials
import Glibc
import JobControl
import JobControlSystemd
import Logging

/// The daemon as a library: loads configuration, opens storage, serves the control socket and runs
/// builds until ``shutdown()``. `jobcontrold` is a thin wrapper around it, and tests run it
/// in-process.
///
/// Ownership: the engine (an actor) owns the configuration and build waiters; the control server
/// owns its listening socket and connections; this type holds only immutable references and the
/// shutdown stream's continuation (itself `Sendable`).
public final class Daemon: Sendable {
    public let options: DaemonOptions
    let registry: FunctionRegistry
    let logger: Logger
    let notifier = Notifier()
    private let shutdownStream: AsyncStream<Void>
    private let shutdownContinuation: AsyncStream<Void>.Continuation
    private let reloadStream: AsyncStream<Void>
    private let reloadContinuation: AsyncStream<Void>.Continuation
    private let stallStream: AsyncStream<Void>
    private let stallContinuation: AsyncStream<Void>.Continuation

    public init(options: DaemonOptions, registry: FunctionRegistry = .builtins, logger: Logger) {
        self.options = options
        self.registry = registry
        self.logger = logger
        (shutdownStream, shutdownContinuation) = AsyncStream<Void>.makeStream()
        (reloadStream, reloadContinuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        (stallStream, stallContinuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Loads the configuration file with the command line's overrides applied.
    public static func loadConfig(_ options: DaemonOptions, registry: FunctionRegistry = .builtins) throws(ConfigError)
        -> DaemonConfig
    {
        var config = try ConfigLoader.load(file: options.configFile, registry: registry)
        if let storage = options.storage { config.storage = storage }
        if let socket = options.socket { config.socket = socket }
        // A socket from the service manager: its own path is the one builds are given (and the
        // builds' socket goes beside it), whatever the file says.
        if let inherited = options.listeningSocket, let bound = ControlServer.boundPath(of: inherited) {
            config.socket = bound
        }
        if let workers = options.workers { config.workers = max(1, workers) }
        if let node = options.node { config.cluster.node = node }
        return config
    }

    /// Crash recovery again every 10 s until it has finished (it is idempotent: each run reads
    /// what is still unfinished).
    static func recoverLater(
        engine: BuildEngine, storage: any Storage, logger: Logger, previousDaemon: Int32?, only: Set<Int64>
    ) -> Task<Void, Never> {
        Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(10))
                if Task.isCancelled { return }
                do {
                    _ = try await CrashRecovery.run(
                        engine: engine, storage: storage, logger: logger, previousDaemon: previousDaemon, only: only)
                    logger.notice("finished the builds an earlier daemon left")
                    return
                } catch {
                    logger.debug("crash recovery still waits for storage", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// Runs until ``shutdown()`` is called. `onReady` runs once the socket accepts connections.
    public func run(onReady: @Sendable () -> Void = {}) async throws(DaemonError) {
        let config: DaemonConfig
        do { config = try Self.loadConfig(options, registry: registry) } catch { throw .config(error) }

        let storage: any Storage
        let databaseLock: DatabaseLock?
        do {
            databaseLock = try DatabaseLock.acquire(storageURL: config.storage)
            storage = try StorageFactory.open(url: config.storage)
            try storage.install()
        } catch {
            throw .storage(error)
        }
        if let others = DatabaseLock.extraNames(storageURL: config.storage) {
            logger.warning(
                "the database file has \(others) more hard link\(others == 1 ? "" : "s"): a daemon that opens it under another name is not kept out by the lock and would corrupt it; give each daemon its own copy",
                metadata: ["storage": "\(config.storage)"])
        }

        let engine = BuildEngine(
            config: config, storage: storage, registry: registry, logger: logger,
            outputObserver: options.buildOutputToJournal ? Self.sendToJournal : nil)
        let scheduler = Scheduler(engine: engine, storage: storage, logger: logger)
        // On PostgreSQL the daemon is one of a cluster (perhaps of one) sharing the database.
        let cluster = (storage as? PostgresStorage).map { postgres in
            ClusterMember(
                node: config.cluster.node ?? ClusterMember.hostName, lease: config.cluster.lease, store: postgres,
                engine: engine,
                logger: logger, onScheduleChange: { await scheduler.refreshSuspended() },
                onFatal: { [self] error in
                    logger.critical("leaving: this daemon cannot stay in the cluster", metadata: ["error": "\(error)"])
                    self.shutdown()
                })
        }
        let reloader = Reloader(
            options: options, registry: registry, engine: engine, scheduler: scheduler, notifier: notifier,
            logger: logger)
        let service = ControlService(
            engine: engine, scheduler: scheduler, storage: storage, reloader: reloader, cluster: cluster,
            node: cluster?.node ?? config.cluster.node ?? ClusterMember.hostName,
            startTime: Date(),
            logger: logger)
        let server = ControlServer(
            path: config.socket, inherited: options.listeningSocket, service: service,
            socketGroup: config.access?.socketGroup,
            logger: logger)
        try await server.bind()
        // `http:`: the dashboard, the JSON API and /metrics (docs/web.md). A change takes effect at a restart.
        let http = config.http.map {
            HTTPServer(
                app: WebApp(settings: $0, service: service, logger: logger), socketGroup: config.access?.socketGroup,
                logger: logger)
        }
        do {
            try await http?.bind()
        } catch {
            // The start fails: no socket file is left for a daemon that never served.
            server.removeSocketFiles()
            throw error
        }
        service.httpBase.withLock { $0 = http?.baseURL }
        if http != nil { Self.seedLastSuccess(config.jobs.map(\.id), storage: storage) }
        // Builds an earlier daemon left: running ones failed (orphans stopped), queued ones run
        // (now that the socket is up for their in-build helpers).
        // In a cluster, only this node's own builds, and those of daemons whose lease expired.
        var pendingRecovery: Task<Void, Never>?
        do throws(StorageError) {
            if let cluster {
                try await cluster.join(workers: config.workers)
            } else {
                // What the earlier daemon left, read before this one starts any build of its own.
                let left = Set(try storage.unfinishedBuilds().map(\.build.id))
                do {
                    _ = try await CrashRecovery.run(
                        engine: engine, storage: storage, logger: logger, previousDaemon: databaseLock?.previousHolder,
                        only: left)
                } catch  where error.code == .full || error.code == .unavailable {
                    // Weather, not death: a full disk must not keep the daemon from starting (it
                    // exited 74 on every restart until space was freed). The orphans are stopped
                    // already; the records of those builds, and only those, are finished once
                    // writes succeed again.
                    logger.error(
                        "cannot finish the builds an earlier daemon left (\(error)); retrying every 10 s",
                        metadata: ["error": "\(error)"])
                    pendingRecovery = Self.recoverLater(
                        engine: engine, storage: storage, logger: logger, previousDaemon: databaseLock?.previousHolder,
                        only: left)
                }
            }
        } catch {
            throw .storage(error)
        }
        // The outbox's deliverer starts before the scheduler: what the scheduler records as
        // missed while the daemon was down goes out at once.
        let deliverer = NotificationDeliverer(
            storage: storage, engine: engine, node: cluster?.node ?? config.cluster.node ?? ClusterMember.hostName,
            clustered: cluster != nil, logger: logger)
        let delivery = Task { await deliverer.run() }
        // Records what was missed while the daemon was down and catches up persistent jobs.
        // In a cluster, the daemon holding the scheduler lock fires the schedules; the others follow.
        await scheduler.start(config: config, leading: cluster == nil)
        await cluster?.competeForScheduler { leading in
            if leading { await scheduler.lead() } else { await scheduler.follow() }
        }
        Self.announceContainment(engine: engine, configured: config.containment, logger: logger)
        logger.info(
            "jobcontrold ready",
            metadata: [
                "config": "\(config.file ?? "-")", "node": "\(cluster?.node ?? "-")", "socket": "\(config.socket)",
                "storage": "\(StorageFactory.displayName(config.storage))", "jobs": "\(config.jobs.count)",
            ])
        notifier.ready(status: await Self.statusLine(config: config, engine: engine, scheduler: scheduler, reload: nil))
        onReady()

        await withDiscardingTaskGroup { group in
            group.addTask {
                await server.serve()
            }
            if let http { group.addTask { await http.serve() } }
            let retention = Task {
                await RetentionService(engine: engine, logger: logger).run()
            }
            let reloads = Task {
                for await _ in reloadStream { await reloader.reload() }
            }
            // The SQLite file deleted or replaced under the daemon (`rm`, a backup restored with
            // `mv`) is an outage until a restart: `jobctl status` and the journal say so.
            let fileWatch = Task { [storage] in
                guard let sqlite = storage as? SQLiteStorage else { return }
                while !Task.isCancelled {
                    sqlite.checkFile()
                    try? await Task.sleep(for: .seconds(10))
                }
            }
            let stalls = Task { [logger] in
                for await _ in stallStream {
                    logger.warning("test hook: stalling the scheduler; the watchdog should restart the daemon")
                    await scheduler.stallForTesting()
                }
            }
            // The scheduler and the engine are asked every period; their answers keep the
            // watchdog's pings going (``LivenessProbe``, on a thread of its own), so a stuck
            // scheduler or engine stops them and the service manager restarts the daemon. The
            // status line is refreshed at the same rate (jobs, running builds, next run).
            let liveness = LivenessProbe()
            let watchdog = Task { [notifier] in
                let interval = notifier.watchdogPingInterval()
                // Without a service manager there is nobody to tell: no wake-ups at all.
                guard notifier.isConnected else { return }
                if let interval {
                    liveness.startPinging(every: interval, notifier: notifier, health: engine.storage.health)
                }
                while !Task.isCancelled {
                    _ = await scheduler.ping()
                    let config = await engine.config
                    liveness.answered()
                    notifier.status(
                        await Self.statusLine(
                            config: config, engine: engine, scheduler: scheduler, reload: reloader.lastStatus))
                    try? await Task.sleep(for: interval ?? .seconds(30))
                }
            }
            for await _ in shutdownStream { break }
            delivery.cancel()
            retention.cancel()
            reloads.cancel()
            fileWatch.cancel()
            pendingRecovery?.cancel()
            stalls.cancel()
            watchdog.cancel()
            liveness.stop()
            await scheduler.stop()
            await cluster?.resignScheduler()
            let grace = await engine.config.stopTimeout
            let running = engine.pool.counts
            notifier.stopping(
                status:
                    "stopping: waiting up to \(DurationFormatter.text(grace)) for \(running.running + running.queued) builds"
            )
            logger.info(
                "jobcontrold stopping",
                metadata: ["builds.running": "\(running.running)", "builds.queued": "\(running.queued)"])
            // The control socket stays open until the builds have ended: their in-build helpers
            // (`jobctl retval`, `log`, `progress`, `skip`) and clients waiting for their outcome
            // need it. New builds are refused meanwhile (the engine no longer accepts any).
            await http?.close()
            await engine.drain(grace: .seconds(grace))
            await server.close()
            // Attempts under way end and are recorded (a webhook's or command's timeout at most
            // 5 s more); those cut off are sent again at the next start.
            await deliverer.finishInFlight(within: .seconds(5))
            await cluster?.leave()
        }
        withExtendedLifetime(databaseLock) {}  // held until every build has ended
        logger.info("jobcontrold stopped")
    }

    /// Each job's last success as stored, for the metrics' gauge: right across restarts, and
    /// for a job a reload brings (back) in. Jobs the metrics know already keep their value.
    static func seedLastSuccess(_ jobs: [String], storage: any Storage) {
        var lastSuccess: [String: Date] = [:]
        for job in jobs {
            if let build = try? storage.getLatestSuccessfulBuild(jobID: job), let end = build.endTime {
                lastSuccess[job] = end
            }
        }
        DaemonMetrics.shared.seed(lastSuccess: lastSuccess)
    }

    /// `STATUS=` for systemd: jobs, builds, the next scheduled start, the last reload.
    static func statusLine(config: DaemonConfig, engine: BuildEngine, scheduler: Scheduler, reload: ReloadStatus?) async
        -> String
    {
        let counts = engine.pool.counts
        var line = "\(config.jobs.count) jobs, \(counts.running) running, \(counts.queued) queued"
        if let outage = engine.storage.health.unavailable {
            let since = ScheduleTime.display(Int64(outage.since.timeIntervalSince1970 * 1_000_000), zone: .local())
            line = "STORAGE UNAVAILABLE since \(since): \(outage.reason); " + line
        }
        if let next = await scheduler.nextStart() {
            line += "; next: \(next.jobID) at \(ScheduleTime.display(next.at, zone: .local()))"
        }
        if let reload { line += "; \(reload.summary)" }
        return line
    }

    /// One build log record as a journal entry, with the fields `journalctl` filters on.
    @Sendable static func sendToJournal(_ record: LogRecord, jobID: String) {
        let priority: Int
        switch record.level {
        case ..<20: priority = 7
        case ..<30: priority = 6
        case ..<40: priority = 4
        case ..<50: priority = 3
        default: priority = 2
        }
        JournalLogHandler.send([
            "MESSAGE=\(record.message)", "PRIORITY=\(priority)", "SYSLOG_IDENTIFIER=jobcontrold",
            "JOBCONTROL_JOB=\(jobID)", "JOBCONTROL_BUILD=\(record.buildID)", "JOBCONTROL_LOGGER=\(record.logger)",
            "JOBCONTROL_LEVEL=\(LogLevel.name(of: record.level))",
        ])
    }

    /// Asks the running daemon to reload its configuration (what SIGHUP does). A bad new
    /// configuration is rejected and the old one keeps running.
    public func reload() {
        reloadContinuation.yield()
    }

    /// Test hook (`JOBCONTROL_DEBUG_HOOKS=1`, SIGUSR2): blocks the scheduler for good, so the
    /// watchdog pings stop.
    public func stallSchedulerForTesting() {
        stallContinuation.yield()
    }

    /// Asks ``run(onReady:)`` to stop: the socket closes and `run` returns.
    public func shutdown() {
        shutdownContinuation.yield()
    }

    /// Says once how builds are contained; without cgroups, becomes the child subreaper.
    static func announceContainment(engine: BuildEngine, configured: Containment, logger: Logger) {
        if let cgroups = engine.cgroups {
            logger.info(
                "containment: each build runs in its own cgroup", metadata: ["cgroups": "\(cgroups.description)"])
            return
        }
        let subreaper = OrphanReaper.start()
        let why =
            configured == .processGroup
            ? "'containment: process-group' is configured"
            : "no writable cgroup (run jobcontrold under systemd with Delegate=yes)"
        logger.warning(
            "containment: builds are contained by process group only (\(why)); limits cannot be enforced, and a process that leaves its group (setsid) is found only by the JOBCONTROL_BUILD_ID it inherited: one that also clears its environment escapes",
            metadata: ["subreaper": "\(subreaper)"])
    }
}
