import Dispatch
import FoundationEssentials
import Glibc
import Logging

/// Creates builds, runs them on the worker pool, and tells waiters when they end.
///
/// Ownership: this actor owns the loaded configuration, the table of waiters and the tokens of
/// running builds (with what their helpers asked for). Build records
/// belong to storage; the pool owns admission. A build's own work runs outside the actor, so a
/// slow build never blocks the engine.
public actor BuildEngine {
    public private(set) var config: DaemonConfig
    public nonisolated let storage: any Storage
    public nonisolated let registry: FunctionRegistry
    public nonisolated let pool: WorkerPool
    nonisolated let logger: Logger
    /// The cgroups builds' commands run in; nil when contained by process group only (the
    /// host offers no cgroup, or `containment: process-group`). Fixed until a restart.
    public nonisolated let cgroups: CgroupHost?
    /// Signalled when notifications were written (the deliverer then looks at once).
    public nonisolated let notificationWake = WakeSignal()
    /// The node named in notifications: `cluster.node`, else the host's name (a change of
    /// `cluster` takes effect at a restart).
    nonisolated let nodeName: String
    /// Sees every log record of every build (the daemon sends them to the journal).
    public nonisolated let outputObserver: (@Sendable (LogRecord, String) -> Void)?
    /// Resumed with the finished build when the engine knows its record (``finishedRecord``),
    /// with nil when the waiter must read it from storage.
    var waiters: [Int64: [CheckedContinuation<Build?, Never>]] = [:]
    /// How to cancel each running build, and the builds a cancel was asked for.
    var cancellers: [Int64: @Sendable () -> Void] = [:]
    var cancelRequested: [Int64: BuildException] = [:]
    /// Builds created by this engine that have not ended yet; and whether new ones are accepted.
    var inFlight: Set<Int64> = []
    var accepting = true
    /// Token → running build. A token exists only while its build runs.
    var activeBuilds: [String: ActiveBuild] = [:]
    /// Set when several daemons share the database: builds go to the shared queue, and the
    /// daemon runs those it claims (see ``ClusterMember``).
    var sharedQueue: SharedQueue?
    /// The values of secret parameters given to builds created here and not started yet, by
    /// build id: never stored, so a build that another daemon or a restart starts cannot have them.
    var heldParameters: [Int64: [String: JSONValue]] = [:]
    /// Builds being deleted (no new build pins them while their job's cleanup function runs),
    /// with the other deletes of each waiting for that delete to end.
    var deleting: [Int64: [CheckedContinuation<Void, Never>]] = [:]

    /// Registers the build's token; returns why the build must not start when a cancel came
    /// first, and the job's notification rules as configured now (one hop onto the actor for all).
    private func register(
        token: String, buildID: Int64, job: JobConfig, redactor: SecretRedactor, logBudget: LogBudget,
        logLimit: UInt64
    )
        -> (cancelled: BuildException?, rules: [NotifyRule])
    {
        activeBuilds[token] = ActiveBuild(
            buildID: buildID, jobID: job.id, redactor: redactor, logBudget: logBudget, logLimit: logLimit)
        return (cancelRequested[buildID], config.notifications.rules(for: job))
    }

    private func isCancelRequested(_ buildID: Int64) -> Bool { cancelRequested[buildID] != nil }

    private func cancelReason(_ buildID: Int64) -> BuildException {
        cancelRequested[buildID] ?? Self.cancelledException
    }

    /// Registers how to cancel a running build; false if a cancel already came.
    private func startCancellable(_ buildID: Int64, cancel: @escaping @Sendable () -> Void) -> Bool {
        guard cancelRequested[buildID] == nil else { return false }
        cancellers[buildID] = cancel
        return true
    }

    private func endCancellable(_ buildID: Int64) {
        cancellers.removeValue(forKey: buildID)
        cancelRequested.removeValue(forKey: buildID)
    }

    private func skipRequested(token: String, reason: String) {
        activeBuilds[token]?.requests.skipReason = reason
    }

    /// Forgets the build's canceller and token (one hop for both); returns what the build's
    /// helpers asked for.
    private func unregister(token: String, buildID: Int64) -> BuildRequests {
        endCancellable(buildID)
        return activeBuilds.removeValue(forKey: token)?.requests ?? BuildRequests()
    }

    public init(
        config: DaemonConfig, storage: any Storage, registry: FunctionRegistry = .builtins, logger: Logger,
        outputObserver: (@Sendable (LogRecord, String) -> Void)? = nil
    ) {
        self.outputObserver = outputObserver
        self.config = config
        self.storage = storage
        self.registry = registry
        self.pool = WorkerPool(limit: config.workers, pools: config.pools)
        self.nodeName = config.cluster.node ?? ClusterMember.hostName
        self.logger = logger
        self.cgroups = config.containment == .processGroup ? nil : CgroupHost.setUp()
        // Without cgroups the daemon is the child subreaper, from before its first build.
        if cgroups == nil { _ = OrphanReaper.start() }
    }

    /// Replaces the configuration (a reload). Builds already created keep the job configuration
    /// they copied; storage and socket stay as they are (they change at a restart). Returns the
    /// keys whose change needs a restart to take effect.
    @discardableResult
    public func replaceConfig(_ newConfig: DaemonConfig) -> [String] {
        var needsRestart: [String] = []
        var applied = newConfig
        if newConfig.storage != config.storage {
            needsRestart.append("storage")
            applied.storage = config.storage
        }
        if newConfig.socket != config.socket {
            needsRestart.append("socket")
            applied.socket = config.socket
        }
        if newConfig.containment != config.containment {
            needsRestart.append("containment")
            applied.containment = config.containment
        }
        if newConfig.cluster != config.cluster {
            needsRestart.append("cluster")
            applied.cluster = config.cluster
        }
        if newConfig.http != config.http {
            needsRestart.append("http")
            applied.http = config.http
        }
        // The rights of `access:` apply at once; the group of the sockets is set when they are made.
        if newConfig.access?.socketGroup != config.access?.socketGroup { needsRestart.append("access.socket_group") }
        if newConfig.workers != config.workers || newConfig.pools != config.pools {
            pool.setLimits(newConfig.workers, pools: newConfig.pools)
        }
        config = applied
        return needsRestart
    }

    /// Creates a build of `jobID`, pinning for each dependency the build given in `pins` or else
    /// its latest successful build, and queues it. `trigger` is stored in the build's config (the
    /// scheduler records the occurrence a build is for). Returns the build as created.
    /// `parameters` are the run's values of the job's parameters (checked, over the defaults).
    public func run(
        jobID: String, force: Bool = false, pins requested: [String: Int64] = [:], trigger: JSONValue? = nil,
        parameters: [String: JSONValue] = [:]
    )
        throws(EngineError) -> Build
    {
        // Without an occurrence to record, the build is always created.
        try create(
            jobID: jobID, force: force, pins: requested, trigger: trigger, parameters: (parameters, [:]),
            starting: nil)!
    }

    /// Creates and queues a build for a scheduled occurrence, recording the occurrence as started
    /// by it in the same transaction: a crash leaves both or neither. Returns nil (and creates
    /// nothing) when the occurrence was taken already (by another daemon, or an earlier run).
    /// `parameters` are the values the occurrence's schedule gives.
    public func runScheduled(
        jobID: String, trigger: JSONValue, starting: OccurrenceStart, parameters: [String: ConfigValue] = [:]
    ) throws(EngineError) -> Build? {
        try create(
            jobID: jobID, force: true, pins: [:], trigger: trigger, parameters: ([:], parameters), starting: starting)
    }

    /// Checks that `jobID` may be built now and returns its job with the build part of the new
    /// build's config (the dependency pins, the trigger, the parameters' values) and the values of
    /// secret parameters to hold in memory.
    private func prepare(
        jobID: String, force: Bool, pins requested: [String: Int64], trigger: JSONValue?,
        parameters: (given: [String: JSONValue], scheduled: [String: ConfigValue])
    )
        throws(EngineError) -> (job: JobConfig, buildPart: [String: JSONValue], held: [String: JSONValue])
    {
        let job = try checkRunnable(jobID: jobID, force: force, pins: requested)
        var pins: [String: JSONValue] = requested.mapValues { .int($0) }
        for dependency in job.dependencies where requested[dependency] == nil {
            let pinned: Build?
            do { pinned = try storage.getLatestSuccessfulBuild(jobID: dependency) } catch { throw .storage(error) }
            guard let pinned else { throw .dependencyNotBuilt(job: jobID, dependency: dependency) }
            pins[dependency] = .int(pinned.id)
        }
        // A build being deleted is not pinned: its cleanup function may be removing what its
        // return value names, and the delete would then refuse, after that function had run.
        for (dependency, pin) in pins.sorted(by: { $0.key < $1.key }) {
            if let id = pin.intValue, deleting[id] != nil {
                throw .badPin(
                    job: jobID, dependency: dependency,
                    reason:
                        "build \(id) of '\(dependency)' is being deleted (its cleanup function is running); run again once the delete has ended"
                )
            }
        }
        let bound: BoundParameters
        do {
            bound = try job.bindParameters(given: parameters.given, schedule: parameters.scheduled)
        } catch {
            throw .invalidParameters(job: jobID, error)
        }
        if sharedQueue != nil, let name = bound.secretValues.keys.sorted().first {
            // Any daemon of the cluster may run the build, and the value is not stored.
            throw .invalidParameters(
                job: jobID,
                .malformed(
                    "secret parameter '\(name)' cannot be given to a run here: several daemons share the work and any may run the build, but a secret value is kept only in the memory of the daemon that takes the run; give it as a !secret default instead"
                ))
        }
        var buildPart: [String: JSONValue] = ["dependency_builds": .object(pins)]
        if let trigger { buildPart["trigger"] = trigger }
        if !bound.stored.isEmpty { buildPart["parameters"] = .object(bound.stored) }
        return (job, buildPart, bound.secretValues)
    }

    /// Checks that `jobID` may be built now: the daemon accepts builds, the job exists and is
    /// enabled, `force` is given for a protected one, and each of `pins` names a successful build
    /// of one of its dependencies. `--build-deps` checks this before it builds anything.
    @discardableResult
    func checkRunnable(jobID: String, force: Bool, pins: [String: Int64]) throws(EngineError) -> JobConfig {
        guard accepting else { throw .shuttingDown }
        guard let job = config.job(jobID) else { throw .noSuchJob(jobID) }
        guard job.enabled else { throw .jobDisabled(jobID) }
        guard !job.protected || force else { throw .jobProtected(jobID) }
        for (dependency, id) in pins.sorted(by: { $0.key < $1.key }) {
            guard job.dependencies.contains(dependency) else {
                throw .badPin(
                    job: jobID, dependency: dependency, reason: "'\(dependency)' is not a dependency of '\(jobID)'")
            }
            let pinned: Build?
            do { pinned = try storage.getBuild(id) } catch { throw .storage(error) }
            guard let pinned, pinned.jobID == dependency, pinned.state == .successful else {
                throw .badPin(
                    job: jobID, dependency: dependency,
                    reason: "build \(id) is not a successful build of '\(dependency)'")
            }
        }
        return job
    }

    /// Why `jobID` could not be built now with its dependencies' latest builds, or nil.
    func whyNotRunnable(jobID: String, force: Bool) -> EngineError? {
        do {
            _ = try prepare(jobID: jobID, force: force, pins: [:], trigger: nil, parameters: ([:], [:]))
            return nil
        } catch {
            return error
        }
    }

    /// Creates and queues builds of several jobs at once (a wave of a planned run: none depends
    /// on another), in one storage transaction. Returns them in order.
    /// `trigger` is stored in each build's config (a dependency build says which job it is for).
    /// `parameters` gives some of them parameter values, by job id.
    public func runMany(
        jobIDs: [String], force: Bool, trigger: JSONValue? = nil, parameters: [String: [String: JSONValue]] = [:]
    ) throws(EngineError) -> [Build] {
        var prepared: [(job: JobConfig, buildPart: [String: JSONValue], held: [String: JSONValue])] = []
        for jobID in jobIDs {
            prepared.append(
                try prepare(
                    jobID: jobID, force: force, pins: [:], trigger: trigger,
                    parameters: (parameters[jobID] ?? [:], [:])))
        }
        let ids: [Int64]
        do {
            ids = try storage.createBuilds(
                prepared.map { (jobID: $0.job.id, jobConfig: $0.job.storedJSON, buildConfig: .object($0.buildPart)) })
        } catch {
            throw .storage(error)
        }
        var builds: [Build] = []
        for (id, entry) in zip(ids, prepared) {
            if !entry.held.isEmpty { heldParameters[id] = entry.held }
            let build = Build(
                id: id, jobID: entry.job.id, config: ["job": entry.job.storedJSON, "build": .object(entry.buildPart)])
            if let sharedQueue {
                logger.info("build queued", metadata: ["job.id": "\(entry.job.id)", "build.id": "\(id)"])
                sharedQueue.wake()
            } else {
                submit(build, of: entry.job, message: "build queued")
            }
            builds.append(build)
        }
        return builds
    }

    private func create(
        jobID: String, force: Bool, pins requested: [String: Int64], trigger: JSONValue?,
        parameters: (given: [String: JSONValue], scheduled: [String: ConfigValue]), starting: OccurrenceStart?
    )
        throws(EngineError) -> Build?
    {
        let (job, buildPart, held) = try prepare(
            jobID: jobID, force: force, pins: requested, trigger: trigger, parameters: parameters)
        let buildConfig: JSONValue = ["job": job.storedJSON, "build": .object(buildPart)]
        let build: Build
        do throws(StorageError) {
            // The new build as stored, without reading it back (a round trip and a JSON parse
            // per build, which showed in the fan-out profile).
            if let starting {
                guard
                    let id = try storage.createBuild(
                        jobID: jobID, jobConfig: job.storedJSON, buildConfig: .object(buildPart), starting: starting)
                else { return nil }
                build = Build(id: id, jobID: jobID, config: buildConfig)
            } else {
                build = Build(
                    id: try storage.createBuild(jobID: jobID, config: buildConfig), jobID: jobID, config: buildConfig)
            }
        } catch {
            throw .storage(error)
        }
        if !held.isEmpty { heldParameters[build.id] = held }
        if let sharedQueue {
            logger.info("build queued", metadata: ["job.id": "\(job.id)", "build.id": "\(build.id)"])
            sharedQueue.wake()
        } else {
            submit(build, of: job, message: "build queued")
        }
        return build
    }

    /// Hands a created build to the pool, with the values of the secrets its job uses as loaded
    /// now (a reload changes later builds only).
    func submit(_ build: Build, of job: JobConfig, message: Logger.Message) {
        let socket = config.socket
        let secrets = config.secrets.filter { job.secretReferences.contains($0.key) }
        let held = heldParameters.removeValue(forKey: build.id) ?? [:]
        inFlight.insert(build.id)
        logger.info(message, metadata: ["job.id": "\(job.id)", "build.id": "\(build.id)"])
        pool.submitHoldingSlot(pool: job.pool, key: build.id) { [self] slot in
            await self.execute(
                build: build, job: job, secrets: secrets, heldParameters: held, socketPath: socket, slot: slot)
        }
    }

    /// Queues a build an earlier daemon created but never started (it was waiting for a worker
    /// when that daemon stopped), keeping its id and pins, with the job as configured now.
    public func requeue(_ build: Build) throws(EngineError) {
        guard accepting else { throw .shuttingDown }
        guard let job = config.job(build.jobID) else { throw .noSuchJob(build.jobID) }
        guard job.enabled else { throw .jobDisabled(build.jobID) }
        submit(build, of: job, message: "build queued again after a restart")
    }

    /// Waits until build `id` has finished, then returns it.
    public func waitUntilFinished(_ id: Int64) async throws(EngineError) -> Build {
        // A build of this engine that has not ended needs no look in storage first.
        if !inFlight.contains(id) {
            let build: Build?
            do { build = try storage.getBuild(id) } catch { throw .storage(error) }
            guard let build else { throw .noSuchBuild(id) }
            if build.finished { return build }
        }
        let known = await withCheckedContinuation { continuation in
            waiters[id, default: []].append(continuation)
        }
        if let known { return known }
        let finished: Build?
        do { finished = try storage.getBuild(id) } catch { throw .storage(error) }
        guard let finished else { throw .noSuchBuild(id) }
        return finished
    }

    /// `record` is the build as just stored, when its end was recorded; waiters get it without a
    /// read when this daemon alone decides builds' records (no shared queue, whose recovery may
    /// overrule them) and the storage keeps the times given.
    func buildFinished(_ id: Int64, record: Build?) {
        inFlight.remove(id)
        let known = sharedQueue == nil && storage.recordsGivenTimes ? record : nil
        for waiter in waiters.removeValue(forKey: id) ?? [] { waiter.resume(returning: known) }
        sharedQueue?.wake()  // a worker is free: claim the next queued build
    }

    /// Runs one build to its end and records the outcome. Never throws: every failure becomes the
    /// build's exception.
    /// The build holds `slot` (its worker) while its function runs, and hands it back as soon as
    /// the function has returned: recording the end (waiting for commits) does not keep the next
    /// queued build from starting.
    nonisolated func execute(
        build: Build, job: JobConfig, secrets: [String: String], heldParameters: [String: JSONValue] = [:],
        socketPath: String?, slot: WorkerSlot? = nil
    ) async {
        let token = randomToken()
        // The build's token too: a build that prints its environment must not hand a reader of
        // its log what takes over the build (skip, retval, log, progress).
        let redactor = SecretRedactor(secrets.values + heldParameters.values.map(\.argumentText) + [token])
        let logBudget = LogBudget()
        let (cancelledBeforeStart, rules) = await register(
            token: token, buildID: build.id, job: job, redactor: redactor, logBudget: logBudget,
            logLimit: job.resources.effectiveLogLimit)
        var context = BuildContext(
            buildID: build.id, jobID: job.id, socketPath: socketPath, token: token, settings: ExecutionSettings(),
            redactor: redactor, storage: storage, observer: outputObserver, logger: logger, logBudget: logBudget)
        var startTime: Date?
        var outcome: (success: Bool, retval: JSONValue?, exception: BuildException?) = (false, nil, nil)
        do {
            if let cancelledBeforeStart { throw cancelledBeforeStart }
            startTime = try await recordStart(of: build.id, context: context)
            context.logger.info("build started")
            guard let function = registry.function(job.function) ?? job.python.map(PythonFunction.make) else {
                throw BuildException(type: "FunctionNotFound", message: "function '\(job.function)' is not registered")
            }
            let pins = build.config["build"]?["dependency_builds"]
            let retval: (String) throws -> JSONValue = { dependency in
                guard let pinned = pins?[dependency]?.intValue, let pinnedBuild = try self.storage.getBuild(pinned)
                else {
                    throw BuildException(
                        type: "RetvalUnavailable", message: "no pinned build of '\(dependency)' for !retval")
                }
                return pinnedBuild.retval ?? .null
            }
            let secret: (String) throws -> JSONValue = { name in
                guard let value = secrets[name] else {
                    throw BuildException(type: "SecretUnavailable", message: "secret '\(name)' is not configured")
                }
                return .string(value)
            }
            let parameters = try job.parameterValues(
                stored: Self.object(build.config["build"]?["parameters"]), memory: heldParameters,
                secrets: secrets, secretWhenCreated: Self.secretParameters(of: build))
            let param: (String) throws -> JSONValue = { parameters[$0] ?? .null }
            let args = try job.args.map { try $0.resolve(retval: retval, secret: secret, param: param) }
            let kwargs = try job.kwargs.mapValues { try $0.resolve(retval: retval, secret: secret, param: param) }
            var environment = try job.environment.mapValues {
                try $0.resolve(retval: retval, secret: secret, param: param).argumentText
            }
            if !parameters.isEmpty {
                for (name, value) in parameters {
                    environment[job.parameter(named: name)?.environmentName ?? name] = value.argumentText
                }
                environment["JOBCONTROL_PARAMETERS"] = JSONValue.object(parameters).jsonText()
            }
            // A build run by a trigger channel learns what triggered it.
            if let trigger = build.config["build"]?["trigger"], trigger["kind"]?.stringValue == "notification" {
                environment.merge(Self.triggerEnvironment(trigger)) { own, _ in own }
            }
            context = context.with(
                settings: ExecutionSettings(
                    environment: environment, workingDirectory: job.workingDirectory, user: job.user, group: job.group,
                    resources: job.resources, cgroups: cgroups),
                parameters: parameters)
            // A command build (exec or shell) hands its worker back as soon as its command and
            // all it started are gone. Not with retries (the command may run again after a
            // failure), nor from a Python function (which reads and parses its outcome after its
            // runner ends) or a registered one (which may run several commands, or go on after one).
            if job.retry == nil, registry.isBuiltinCommand(job.function) {
                context.worker = slot
            }
            let running = context
            let retry = job.retry
            let trigger = build.config["build"]?["trigger"]
            let firstAttempt =
                trigger?["kind"] == "retry" ? Int(clamping: trigger?["attempt"]?.intValue ?? 1) : 1
            let work = Task {
                // Attempts of the same build: its log gets every attempt's lines, and a failed
                // attempt is retried after an exponentially growing delay. A build that replaces
                // one a crash interrupted goes on from that one's count (`trigger.attempt`), so
                // the job runs at most `1 + count` times in all.
                var attempt = firstAttempt
                while true {
                    do {
                        // Cancelled before it began (while its start was being recorded): nothing runs.
                        try Task.checkCancellation()
                        return try await Self.withTimeout(
                            job.timeout, commandEnded: { running.worker?.releaseTime != nil }
                        ) { try await function(running, args, kwargs) }
                    } catch let error
                        where !(error is BuildSkipped) && !Task.isCancelled && attempt <= retry?.count ?? 0
                    {
                        let delay = retry?.delay(afterAttempt: attempt) ?? 0
                        running.log(
                            .warning,
                            "attempt \(attempt) failed: \(BuildException(wrapping: error).message); retrying in \(DurationFormatter.text(delay))"
                        )
                        try await Task.sleep(for: .seconds(delay))
                        attempt += 1
                        // Crash recovery counts the attempts that started from these lines.
                        running.log(.info, "attempt \(attempt) starts")
                    }
                }
            }
            guard await startCancellable(build.id, cancel: { work.cancel() }) else {
                work.cancel()
                // What the work began ends before the build does: a command it got to start is
                // torn down first, and only then is the worker handed back and the end recorded.
                _ = await work.result
                throw await cancelReason(build.id)
            }
            let warning = warnWhenLong(build: build, job: job, rules: rules, started: startTime, worker: running.worker)
            defer { warning?.cancel() }
            let returned = try await work.value
            // Cancelled (by jobctl cancel, a replacement or the daemon's stop), the work may still
            // return: a command that traps SIGTERM and exits 0. The build was cancelled all the
            // same, and is recorded so (it was SUCCESSFUL).
            if work.isCancelled { throw await cancelReason(build.id) }
            outcome = (true, returned, nil)
        } catch let skip as BuildSkipped {
            outcome = (true, nil, nil)
            await skipRequested(token: token, reason: skip.reason)
        } catch {
            let cancelled = await isCancelRequested(build.id)
            outcome = (false, nil, cancelled ? await cancelReason(build.id) : BuildException(wrapping: error))
        }
        // The build's work has ended: that is its end time, and its worker is free. A command
        // build may have handed its worker back already, when its command ended: then that is
        // its end (no build of its pool is recorded as starting before it ended).
        slot?.release()
        let endTime = slot?.releaseTime ?? Date()
        // What the build's helpers asked for: a return value, or to end SKIPPED.
        let requests = await unregister(token: token, buildID: build.id)
        var skipped = false
        if outcome.success {
            if outcome.retval == nil { outcome.retval = requests.retval }
            if let reason = requests.skipReason {
                skipped = true
                context.log(.info, "build skipped: \(reason.isEmpty ? "no reason given" : reason)")
            }
        }
        outcome = Self.bounded(outcome)
        if !outcome.success { skipped = false }  // a value too large to store failed the build
        // Nothing a build stores keeps a secret's value.
        outcome.retval = outcome.retval.map(redactor.redact)
        if var exception = outcome.exception, !redactor.isEmpty {
            exception.message = redactor.redact(exception.message)
            exception.details = exception.details.mapValues(redactor.redact)
            exception.traceback = exception.traceback.map { TracebackInfo(json: redactor.redact($0.json)) }
            outcome.exception = exception
        }
        if let exception = outcome.exception {
            context.log(.error, "build failed: \(exception.message)")
            context.logger.warning("build failed", metadata: ["error": "\(exception)"])
        }
        // Held writes (the storage failing) are written or given up on before the build's end.
        do {
            try await storage.flushAsync()
        } catch {
            context.logger.error("some output lines of the build could not be stored", metadata: ["error": "\(error)"])
        }
        if let lost = storage.health.takeDroppedLogLines(buildID: build.id) {
            // A build whose log has a hole does not end plain SUCCESSFUL: the hole is its record.
            context.logger.error(
                "log lines of the build were lost", metadata: ["lines": "\(lost.count)", "error": "\(lost.reason)"])
            if var exception = outcome.exception {
                exception.details["log_lines_lost"] = .int(Int64(lost.count))
                outcome.exception = exception
            } else {
                let exception = Self.logLinesLost(lost.count, reason: lost.reason)
                outcome = (false, outcome.retval, exception)
                skipped = false
                context.logger.warning("build failed", metadata: ["error": "\(exception)"])
            }
        }
        // Said once the outcome is final (a build whose log lines were lost fails after all).
        if outcome.success { context.logger.info("build succeeded") }
        let notify =
            rules.isEmpty || skipped
            ? nil
            : NotificationTrigger(
                jobID: job.id, buildID: build.id,
                cause: .build(success: outcome.success, startedBy: StartKind.of(buildConfig: build.config)),
                rules: rules,
                facts: buildFacts(
                    build: build, job: job, started: startTime, ended: endTime, success: outcome.success,
                    exception: outcome.exception),
                now: endTime)
        let recorded = await recordEnd(
            of: build.id, at: endTime, success: outcome.success, skipped: skipped, retval: outcome.retval,
            exception: outcome.exception, notify: notify, context: context)
        if recorded, let notify, notify.written.value > 0 { notificationWake.signal() }
        DaemonMetrics.shared.buildFinished(
            job: job.id, result: skipped ? "skipped" : outcome.success ? "successful" : "failed",
            duration: startTime.map { endTime.timeIntervalSince($0) }, at: endTime)
        await buildFinished(
            build.id,
            record: recorded
                ? Self.finishedRecord(
                    of: build, started: startTime, ended: endTime, success: outcome.success, skipped: skipped,
                    retval: outcome.retval, exception: outcome.exception, usage: context.usage.value.withLock { $0 })
                : nil)
    }
}
