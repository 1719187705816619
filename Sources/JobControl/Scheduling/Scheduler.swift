import FoundationEssentials
import Glibc
import Logging

/// Runs jobs on their schedules, exactly once per occurrence.
///
/// Each occurrence is claimed in storage before anything runs (``ScheduleStore/claimOccurrence(_:)``),
/// so a restart, a wall clock stepped back, or another daemon on the same database never runs it
/// twice; what happens to it — started, queued, skipped, missed, failed — is recorded, so a
/// schedule never stops silently. Between occurrences the scheduler sleeps in a
/// ``WallClockTimer`` until the earliest due time; nothing polls.
///
/// Ownership: this actor owns every job's schedule state (its cursor, next due time, queue of
/// waiting occurrences) and the set of suspended jobs; storage holds their durable copy.
public actor Scheduler {
    /// One job's schedule state.
    struct JobState {
        var policy: SchedulePolicy
        var enabled: Bool
        /// Occurrences up to this instant are handled; the next one is searched after it.
        var cursor: Int64
        var nextDue: Int64?
        /// `nextDue` plus the job's start delay.
        var fireAt: Int64?
        /// Occurrences waiting for the running build to end (`concurrency: queue`, `catch_up: all`).
        var queue: [Int64] = []
        /// A build is being watched to drain the queue when it ends.
        var watching = false
        /// Who hears of occurrences that did not run (the job's notification rules).
        var rules: [NotifyRule] = []
    }

    public let engine: BuildEngine
    let storage: any Storage
    let logger: Logger
    let now: @Sendable () -> Int64
    let bootTime: Int64?
    /// Internal, not private: Scheduler+Notifications.swift reads each job's rules.
    var jobs: [String: JobState] = [:]
    /// This daemon's name in notifications (`cluster.node`, else the host's).
    var nodeName: String?
    /// Jobs suspended by `jobctl suspend` (kept in storage, read again by ``refreshSuspended()``).
    var suspended: Set<String> = []
    private var timer: WallClockTimer?
    private(set) var stopped = false
    /// Whether this scheduler fires occurrences. Of several daemons sharing a database only the
    /// one holding the scheduler lock does; the others follow the schedules (next runs for
    /// `jobctl next`) and take over when it goes (``lead()``).
    private(set) var leading = true
    /// The configuration last given to ``start(config:useTimer:leading:)`` or
    /// ``update(config:)``: what ``lead()`` loads. A configuration read elsewhere before the
    /// lock was won could be older than a reload that came meanwhile.
    private var config: DaemonConfig?
    private var ticking = false
    /// At most this many occurrences of a job wait for its running build; later ones are skipped.
    static let maxQueued = 10
    private var tickAgain = false
    /// Per job, the occurrence that starts once the build it replaces has ended
    /// (`concurrency: replace`, ``replace(_:running:due:detail:)``), with its note.
    var replacing: [String: (due: Int64, detail: String?)] = [:]
    /// Per job, how many of its builds are being started (``startBuild(_:due:detail:fromQueue:)``
    /// awaits the engine, and the build is in storage only after it): an occurrence of a job
    /// that is not `concurrency: allow` fired meanwhile waits in ``deferredFires`` and is fired
    /// once the start is done, when it sees the build. Fired at once, it found no build running
    /// and started a second one beside it.
    private var starting: [String: Int] = [:]
    private var deferredFires: [String: [(due: Int64, detail: String?, catchingUp: Bool)]] = [:]

    /// `now` gives microseconds since the epoch (tests pass their own clock).
    public init(
        engine: BuildEngine, storage: any Storage, logger: Logger,
        now: @escaping @Sendable () -> Int64 = ScheduleTime.currentMicroseconds, bootTime: Int64? = BootClock.bootTime()
    ) {
        self.engine = engine
        self.storage = storage
        self.logger = logger
        self.now = now
        self.bootTime = bootTime
    }

    // MARK: Life cycle

    /// Loads suspensions, records or catches up what was missed while the daemon was down,
    /// restores queued occurrences, runs `@reboot` jobs, and starts timing. With `useTimer`
    /// false nothing wakes by itself (tests call ``tick()``).
    /// With `leading` false, follows the schedules without firing until ``lead()``.
    public func start(config: DaemonConfig, useTimer: Bool = true, leading: Bool = true) async {
        self.leading = leading
        self.config = config
        do { suspended = try storage.suspendedJobs() } catch {
            logger.error("cannot read suspended jobs", metadata: ["error": "\(error)"])
        }
        if useTimer {
            timer = WallClockTimer(logger: logger) { [weak self] _ in
                guard let self else { return }
                Task { await self.tick() }
            }
        }
        await load(config)
    }

    /// Builds every job's state from now; when leading, first records what was missed since the
    /// last recorded occurrence, catches up persistent jobs and restores queued occurrences.
    private func load(_ config: DaemonConfig) async {
        let startTime = now()
        var catchUps: [(String, Int64)] = []
        jobs = [:]
        nodeName = config.cluster.node ?? ClusterMember.hostName
        for job in config.jobs {
            guard let policy = job.schedule else { continue }
            var state = JobState(policy: policy, enabled: job.enabled, cursor: startTime)
            state.rules = config.notifications.rules(for: job)
            jobs[job.id] = state  // what recovery records as missed finds the job's rules
            if leading && job.enabled && !suspended.contains(job.id) {
                catchUps += recover(job.id, &state, now: startTime)
            }
            state.computeNext(jobID: job.id)
            jobs[job.id] = state
        }
        for (jobID, due) in catchUps {
            // The daemon stops, or another one took the schedules: they are caught up then.
            guard !stopped, leading else { return }
            await fire(jobID, due: due, detail: "caught up after downtime (persistent)", catchingUp: true)
        }
        for jobID in jobs.keys.sorted() where !(jobs[jobID]?.queue.isEmpty ?? true) { await drainQueue(jobID) }
        await tick()
    }

    /// This daemon now runs the cluster's schedules (it got the scheduler lock): it picks up
    /// where the previous one stopped, from what storage recorded.
    public func lead() async {
        guard !leading, !stopped, let config else { return }
        leading = true
        logger.notice("this daemon now runs the cluster's schedules")
        if let current = try? storage.suspendedJobs() { suspended = current }
        await load(config)
    }

    /// Another daemon runs the schedules now (this one lost the scheduler lock): stop firing and
    /// leave queued occurrences to it (they are in storage).
    public func follow() {
        guard leading else { return }
        leading = false
        for jobID in jobs.keys { jobs[jobID]?.queue = [] }
        logger.warning(
            "this daemon no longer runs the cluster's schedules (it lost the scheduler lock: its database session ended); another daemon takes them over, or this one once it gets the lock back"
        )
    }

    /// Whether this scheduler fires occurrences (always, unless several daemons share a database).
    public var isLeading: Bool { leading }

    /// Applies a reloaded configuration: new jobs start from now, and so do jobs whose schedule
    /// changed or that are enabled again (as ``resume(_:)`` does); other jobs keep their cursor.
    /// From the old cursor, what fell before the reload would be due at once: a backup moved
    /// from 02:30 to 03:00 ran at the reload, one disabled for a week ran at once, with a week of
    /// occurrences recorded as missed.
    public func update(config: DaemonConfig) async {
        self.config = config
        let updateTime = now()
        var updated: [String: JobState] = [:]
        for job in config.jobs {
            guard let policy = job.schedule else { continue }
            var state = jobs[job.id] ?? JobState(policy: policy, enabled: job.enabled, cursor: updateTime)
            let changed = state.policy != policy
            let enabledAgain = !state.enabled && job.enabled
            state.policy = policy
            if changed || enabledAgain {
                passOver(
                    job.id, &state, until: updateTime,
                    because: changed ? "the schedule changed at a reload" : "the job was disabled")
            }
            state.enabled = job.enabled
            state.rules = config.notifications.rules(for: job)
            state.computeNext(jobID: job.id)
            updated[job.id] = state
        }
        // Occurrences waiting in the queue of a job the reload removed (or disabled, or left
        // unscheduled) would wait for ever, and the next start's recovery would run them all,
        // late: they are recorded as skipped now.
        for (jobID, old) in jobs where !old.queue.isEmpty {
            let reason: String
            if let kept = updated[jobID] {
                guard !kept.enabled else { continue }
                reason = "not started: the job was disabled at a reload"
            } else {
                reason = "not started: the job was removed, or lost its schedule, at a reload"
            }
            for due in old.queue { skipQueued(jobID, due: due, because: reason) }
            updated[jobID]?.queue = []
        }
        jobs = updated
        await tick()
    }

    /// Records an occurrence that waited in the queue as skipped.
    func skipQueued(_ jobID: String, due: Int64, because reason: String) {
        do {
            try storage.updateOccurrence(
                jobID: jobID, due: due, outcome: .skipped, buildID: nil, detail: reason, notify: nil)
            DaemonMetrics.shared.occurrence(job: jobID, outcome: OccurrenceOutcome.skipped.rawValue)
        } catch {
            logger.error(
                "cannot record that a queued occurrence was skipped",
                metadata: ["job.id": "\(jobID)", "error": "\(error)"])
            if error.isTransient { deferRecord(jobID, due: due, reason: error.message, queued: true) }
        }
    }

    /// Stops timing; nothing is started after this.
    public func stop() {
        stopped = true
        timer?.stop()
        timer = nil
    }

    /// Test hook: blocks this actor for good (the watchdog's pings then stop).
    public func stallForTesting() {
        while true { sleep(3600) }
    }

    /// Answers when the scheduler is not stuck (the watchdog's proof of life).
    public func ping() -> Int { jobs.count }

    // MARK: Time passing

    /// Fires every occurrence whose time has come, then sleeps until the next one. Several
    /// overdue occurrences of one job (the clock jumped, the machine slept) become one build, for
    /// the latest; the others are recorded as missed — never a burst.
    public func tick() async {
        guard !stopped else { return }
        if ticking {
            tickAgain = true
            return
        }
        ticking = true
        defer { ticking = false }
        repeat {
            tickAgain = false
            let current = now()
            for jobID in jobs.keys.sorted() {
                guard var state = jobs[jobID], state.enabled, !suspended.contains(jobID),
                    let due = state.nextDue, let fireAt = state.fireAt, fireAt <= current
                else { continue }
                // Everything due since `due` whose start has come: found back from now, so a month
                // of a per-second schedule costs a few windows, not millions of steps.
                let later = state.policy.newestOccurrences(after: due, through: current, count: 100)
                let latest = later.dues.last { $0 + state.policy.startDelay(jobID: jobID, due: $0) <= current } ?? due
                state.cursor = latest
                state.computeNext(jobID: jobID)
                jobs[jobID] = state
                guard leading else { continue }  // another daemon fires it
                // `stop()` may come while an earlier job's fire awaited: nothing starts after it
                // (the next start's recovery records or catches up what is left).
                guard !stopped else { break }
                if latest != due {
                    let skipped = [due] + later.dues.filter { $0 < latest }
                    recordMissed(
                        jobID, skipped.suffix(100),
                        because:
                            "the wall clock jumped forward or the machine was suspended; the latest occurrence runs instead"
                            + (later.complete ? "" : " (older missed occurrences are not recorded)"))
                }
                await fire(jobID, due: latest, detail: nil)
            }
        } while tickAgain && !stopped
        rearm()
    }

    func rearm() {
        guard !stopped else { return }
        let earliest = jobs.filter { $0.value.enabled && !suspended.contains($0.key) }.compactMap(\.value.fireAt).min()
        timer?.arm(at: earliest)
    }

    // MARK: Running an occurrence

    /// Acts on one occurrence: checks its start deadline and the job's concurrency policy, claims
    /// it, and starts, queues or skips it.
    /// `catchingUp`: a persistent job's run after downtime, which `catch_up_window` bounds
    /// (checked by the recovery) rather than `start_deadline`: with both set, a deadline of hours
    /// silently cancelled every catch-up after a longer downtime, the window notwithstanding.
    func fire(_ jobID: String, due: Int64, detail: String?, catchingUp: Bool = false) async {
        guard let state = jobs[jobID] else { return }
        let policy = state.policy
        let current = now()
        let late = current - due - policy.startDelay(jobID: jobID, due: due)
        if !catchingUp, let deadline = policy.startDeadline, Double(late) / 1_000_000 > deadline {
            claim(
                jobID, due: due, outcome: .missed,
                detail:
                    "could not start until \(DurationFormatter.text(Double(late) / 1_000_000)) after its due time, beyond its start_deadline of \(DurationFormatter.text(deadline))"
            )
            return
        }
        if starting[jobID] != nil, policy.concurrency != .allow {
            deferredFires[jobID, default: []].append((due, detail, catchingUp))
            return
        }
        let running = runningBuilds(jobID)
        switch (policy.concurrency, running.isEmpty) {
        case (.forbid, false):
            claim(
                jobID, due: due, outcome: .skipped,
                detail: "build \(running.map(String.init).joined(separator: ", ")) still running (concurrency: forbid)")
        case (.queue, false) where state.queue.count >= Self.maxQueued:
            claim(
                jobID, due: due, outcome: .skipped,
                detail: "\(Self.maxQueued) occurrences already wait for build \(running.last!) (concurrency: queue)")
        case (.queue, false):
            guard
                claim(
                    jobID, due: due, outcome: .queued, detail: "waiting for build \(running.last!) (concurrency: queue)"
                )
            else { return }
            jobs[jobID]?.queue.append(due)
            watch(jobID, build: running.last!)
        case (.replace, _) where replacing[jobID] != nil:
            supersedeReplacement(jobID, due: due)
        case (.replace, false):
            await replace(jobID, running: running, due: due, detail: detail)
        default:
            await startBuild(jobID, due: due, detail: detail)
        }
    }

    /// Records an occurrence; false when it was already recorded (it ran, or another daemon has it).
    /// `notifying`: an occurrence that did not run tells the job's notification rules, in the
    /// same transaction.
    @discardableResult
    func claim(
        _ jobID: String, due: Int64, outcome: OccurrenceOutcome, detail: String?, notifying: Bool = true
    ) -> Bool {
        do {
            let notify = notifying ? occurrenceTrigger(jobID, due: due, outcome: outcome, detail: detail) : nil
            let claimed = try storage.claimOccurrence(
                Occurrence(jobID: jobID, due: due, outcome: outcome, detail: detail), notify: notify)
            if claimed, let notify, notify.written.value > 0 { engine.notificationWake.signal() }
            if claimed { DaemonMetrics.shared.occurrence(job: jobID, outcome: outcome.rawValue) }
            if claimed && outcome != .started {
                logger.notice(
                    "scheduled occurrence \(outcome.rawValue)",
                    metadata: [
                        "job.id": "\(jobID)", "occurrence": "\(ScheduleTime.iso8601(due, zone: .utc))",
                        "detail": "\(detail ?? "")",
                    ])
            }
            return claimed
        } catch {
            // Without the claim there is no guarantee against running twice: do not run.
            logger.error(
                "cannot record a scheduled occurrence; it does not run",
                metadata: ["job.id": "\(jobID)", "error": "\(error)"])
            if error.isTransient { deferRecord(jobID, due: due, reason: error.message) }
            return false
        }
    }

    /// Occurrences that could not run nor be recorded while the storage was unavailable; recorded
    /// as missed (with the reason) once it is back, so the history has no silent hole.
    private var unrecorded: [(jobID: String, due: Int64, reason: String, queued: Bool)] = []
    private var recordingUnrecorded = false

    /// `queued`: the occurrence has a row already (it waited in the queue), to be updated.
    private func deferRecord(_ jobID: String, due: Int64, reason: String, queued: Bool = false) {
        guard !unrecorded.contains(where: { $0.jobID == jobID && $0.due == due }) else { return }
        if unrecorded.count >= 1000 { unrecorded.removeFirst() }
        unrecorded.append((jobID, due, String(reason.prefix { $0 != "\n" }), queued))
        guard !recordingUnrecorded else { return }
        recordingUnrecorded = true
        Task { await self.recordUnrecorded() }
    }

    /// Tries every 2 s until the deferred occurrences are recorded (or the scheduler stops).
    private func recordUnrecorded() async {
        defer { recordingUnrecorded = false }
        while !unrecorded.isEmpty, !stopped {
            try? await Task.sleep(for: .seconds(2))
            while let first = unrecorded.first {
                let occurrence = Occurrence(
                    jobID: first.jobID, due: first.due, outcome: .missed,
                    detail: "not started: the storage was unavailable (\(first.reason))")
                do {
                    let notify = occurrenceTrigger(
                        first.jobID, due: first.due, outcome: .missed, detail: occurrence.detail)
                    if first.queued {
                        try storage.updateOccurrence(
                            jobID: first.jobID, due: first.due, outcome: .missed, buildID: nil,
                            detail: occurrence.detail, notify: notify)
                    } else if try storage.claimOccurrence(occurrence, notify: notify) {
                        logger.notice(
                            "scheduled occurrence missed while the storage was unavailable",
                            metadata: [
                                "job.id": "\(first.jobID)",
                                "occurrence": "\(ScheduleTime.iso8601(first.due, zone: .utc))",
                            ])
                    }
                    if let notify, notify.written.value > 0 { engine.notificationWake.signal() }
                    unrecorded.removeFirst()
                } catch  where error.isTransient {
                    break  // still unavailable: try again in 2 s
                } catch {
                    logger.error(
                        "cannot record an occurrence missed while the storage was unavailable",
                        metadata: ["job.id": "\(first.jobID)", "error": "\(error)"])
                    unrecorded.removeFirst()
                }
            }
        }
    }

    /// Creates the occurrence's build and records the occurrence as started by it, in one
    /// transaction (a new occurrence, or one that waited in the queue). False when another daemon
    /// or an earlier run has the occurrence; a failure to create the build is recorded as the
    /// occurrence's outcome.
    @discardableResult
    func startBuild(_ jobID: String, due: Int64, detail: String?, fromQueue: Bool = false) async -> Bool {
        starting[jobID, default: 0] += 1
        let started = await startBuildNow(jobID, due: due, detail: detail, fromQueue: fromQueue)
        starting[jobID]! -= 1
        if starting[jobID] == 0 {
            starting[jobID] = nil
            while starting[jobID] == nil, let next = deferredFires[jobID]?.first {
                deferredFires[jobID]!.removeFirst()
                if deferredFires[jobID]!.isEmpty { deferredFires[jobID] = nil }
                guard !stopped, leading else { continue }  // left for the next start's recovery
                // What changed during the start decides, as for a replacement's wait.
                guard jobs[jobID]?.enabled == true, !suspended.contains(jobID) else {
                    claim(
                        jobID, due: next.due, outcome: .skipped,
                        detail: "the job was suspended, disabled or removed while a build of it was being started")
                    continue
                }
                await fire(jobID, due: next.due, detail: next.detail, catchingUp: next.catchingUp)
            }
        }
        return started
    }

    private func startBuildNow(_ jobID: String, due: Int64, detail: String?, fromQueue: Bool) async -> Bool {
        let trigger: JSONValue = ["kind": "schedule", "occurrence": .string(ScheduleTime.iso8601(due, zone: .utc))]
        let late = Double(now() - due) / 1_000_000
        let note = detail ?? (late >= 1 ? "started \(DurationFormatter.text(late)) after its due time" : nil)
        let starting: OccurrenceStart =
            fromQueue
            ? .fromQueue(jobID: jobID, due: due, detail: note)
            : .claim(Occurrence(jobID: jobID, due: due, outcome: .started, detail: note))
        do {
            let parameters = jobs[jobID]?.policy.parameters(at: due, bootTime: bootTime) ?? [:]
            guard
                let build = try await engine.runScheduled(
                    jobID: jobID, trigger: trigger, starting: starting, parameters: parameters)
            else {
                return false
            }
            if jobs[jobID]?.policy.concurrency == .queue { watch(jobID, build: build.id) }
            DaemonMetrics.shared.occurrence(job: jobID, outcome: OccurrenceOutcome.started.rawValue)
            return true
        } catch {
            if case .shuttingDown = error {
                // Not a failure of the job: the daemon stops. The occurrence stays unclaimed (or
                // queued) in storage, and the next start records it missed or catches it up, as
                // any occurrence due while the daemon was down; no failure notification goes out.
                logger.notice(
                    "scheduled occurrence left for the next start: jobcontrold is stopping",
                    metadata: ["job.id": "\(jobID)", "occurrence": "\(ScheduleTime.iso8601(due, zone: .utc))"])
                return false
            }
            logger.error("scheduled build could not start", metadata: ["job.id": "\(jobID)", "error": "\(error)"])
            if fromQueue {
                do {
                    let notify = occurrenceTrigger(jobID, due: due, outcome: .failed, detail: "\(error)")
                    try storage.updateOccurrence(
                        jobID: jobID, due: due, outcome: .failed, buildID: nil, detail: "\(error)", notify: notify)
                    if let notify, notify.written.value > 0 { engine.notificationWake.signal() }
                } catch {
                    logger.error(
                        "cannot record that a queued occurrence did not start",
                        metadata: ["job.id": "\(jobID)", "error": "\(error)"])
                    if error.isTransient { deferRecord(jobID, due: due, reason: error.message, queued: true) }
                }
            } else {
                claim(jobID, due: due, outcome: .failed, detail: "\(error)")
            }
            return true
        }
    }

    private func recordMissed(_ jobID: String, _ dues: some Collection<Int64>, because reason: String) {
        // The newest 100 are enough to see what happened; a week of a per-second job is not.
        let recorded = dues.suffix(100)
        let note =
            dues.count > recorded.count
            ? "\(reason) (\(dues.count) occurrences missed, the newest 100 recorded)" : reason
        // One notification for the lot: the newest occurrence's, which says how many.
        let newest = recorded.max()
        for due in recorded {
            claim(jobID, due: due, outcome: .missed, detail: note, notifying: due == newest)
        }
    }

    func runningBuilds(_ jobID: String) -> [Int64] {
        let builds =
            (try? storage.getJobBuilds(
                jobID: jobID, filter: BuildFilter(finished: false), order: .ascending, limit: 100)) ?? []
        return builds.map(\.id)
    }

    // MARK: After downtime

    /// Restores queued occurrences, records what was missed while the daemon was down, and
    /// returns what a persistent job catches up (latest or all, within its window).
    private func recover(_ jobID: String, _ state: inout JobState, now current: Int64) -> [(String, Int64)] {
        var catchUps: [(String, Int64)] = []
        if let queued = try? storage.occurrences(jobID: jobID, outcome: .queued, limit: 1000) {
            state.queue = queued.map(\.due).sorted()
        }
        if bootTime != nil, state.policy.schedules.contains(where: { $0.rule == .reboot }), let bootTime {
            catchUps.append((jobID, bootTime))  // claimed once per boot, whatever the restarts
        }
        guard let last = try? storage.occurrences(jobID: jobID, outcome: nil, limit: 1).first,
            let latest = state.policy.latestOccurrence(after: last.due, through: current)
        else { return catchUps }  // never ran before, or nothing missed
        let policy = state.policy
        // Why they were missed: the daemon was down, or it ran but could not reach its storage.
        let down =
            storage.health.lastOutage(endedAfter: last.due).map { "jobcontrold could not reach its storage (\($0))" }
            ?? "jobcontrold was not running"
        // Only the newest 100 missed occurrences are recorded (and at most 100 run): enough to see
        // what happened, without millions of rows after a long downtime of a frequent schedule.
        let note = { (reason: String, complete: Bool) in
            complete ? reason : reason + " (older missed occurrences are not recorded)"
        }
        if policy.persistent && policy.catchUp == .all {
            let from = policy.catchUpWindow.map { max(last.due, current - Int64($0 * 1_000_000)) } ?? last.due
            let window = policy.newestOccurrences(after: from, through: current, count: 100)
            if from > last.due {
                let older = policy.newestOccurrences(after: last.due, through: from, count: 100)
                recordMissed(
                    jobID, older.dues, because: note("\(down), and this is older than catch_up_window", older.complete))
            }
            for due in window.dues
            where claim(
                jobID, due: due, outcome: .queued,
                detail: note("caught up after downtime (catch_up: all, at most the newest 100)", window.complete))
            {
                state.queue.append(due)
            }
        } else {
            let earlier = policy.newestOccurrences(after: last.due, through: latest - 1, count: 100)
            if policy.persistent {
                recordMissed(
                    jobID, earlier.dues,
                    because: note("\(down); persistent runs only the latest occurrence", earlier.complete))
                if policy.catchUpWindow.map({ Double(current - latest) / 1_000_000 <= $0 }) ?? true {
                    catchUps.append((jobID, latest))
                } else {
                    recordMissed(jobID, [latest], because: "\(down), and this is older than catch_up_window")
                }
            } else {
                recordMissed(
                    jobID, Array((earlier.dues + [latest]).suffix(100)),
                    because: note("\(down) (the job is not persistent)", earlier.complete))
            }
        }
        return catchUps
    }
}

extension Scheduler.JobState {
    mutating func computeNext(jobID: String) {
        nextDue = policy.next(after: cursor)
        fireAt = nextDue.map { $0 + policy.startDelay(jobID: jobID, due: $0) }
    }
}
