import Dispatch
import FoundationEssentials
import Glibc
import Logging

/// Group commit: callers from any thread hand in their writes; whatever arrived while the
/// previous transaction ran is committed together in the next one, which starts at once (no
/// timer). A caller either waits until its writes are committed (``submit(_:)``: durable when it
/// returns) or goes on at once (``enqueue(_:)``) and later waits for everything handed in so far
/// (``flush()``). Each backend supplies `commit`, which writes operations in one transaction
/// (``SQLiteBatchWriter``, and PostgreSQL's log writes).
///
/// The transactions run on a dedicated thread, not on a Dispatch queue: callers block in
/// `submit`, and blocked Dispatch or Swift-concurrency workers must never be what the writer waits
/// for a thread behind. The thread ends when the writer is released.
final class GroupCommitWriter<Operation: Sendable>: Sendable {
    private let state: State

    /// What the writer does while its storage fails transiently (``StorageError/isTransient``):
    /// it holds the failed batch and tries again with a capped backoff; callers that hand in
    /// more are slowed by ``waitForCapacity(limit:)``, so what is held stays bounded. After
    /// `hold`, operations that `droppable` allows (log lines, progress) are given up on and
    /// reported to `health`; the others (a build's start and end) are held until they are
    /// written or the writer stops.
    struct Holding: Sendable {
        var health: StorageHealth
        var hold: Duration
        var droppable: @Sendable (Operation) -> Bool
        /// The build of a dropped log line, for ``StorageHealth/takeDroppedLogLines(buildID:)``.
        var logLineBuild: @Sendable (Operation) -> Int64?
        /// Gives back disk space set aside for a full disk (``StorageReserve``); true when it did.
        var releaseReserve: @Sendable () -> Bool = { false }
        /// Sets the reserve aside again (when there is room); true when it is in place.
        var restoreReserve: @Sendable () -> Bool = { true }
    }

    /// How long log lines are held while the storage fails; `JOBCONTROL_WRITE_HOLD_SECONDS`
    /// overrides it (operations and tests).
    static var defaultHold: Duration {
        if let text = ProcessInfo.processInfo.environment["JOBCONTROL_WRITE_HOLD_SECONDS"], let seconds = Double(text),
            seconds >= 0
        {
            return .milliseconds(Int64(seconds * 1000))
        }
        return .seconds(60)
    }

    /// `commit` writes its operations in one transaction, or throws and writes none of them.
    init(name: String, holding: Holding, commit: @escaping @Sendable ([Operation]) throws(StorageError) -> Void) {
        state = State()
        let state = state
        DedicatedThread.start(name: name) { State.run(state, holding: holding, commit: commit) }
    }

    deinit {
        state.stop()
    }

    /// Writes `operations` in a transaction shared with concurrent callers; returns once committed.
    /// If the shared transaction fails, each caller's writes are retried alone, so one caller's bad
    /// write (a deleted build, say) fails that caller only.
    func submit(_ operations: [Operation]) throws(StorageError) {
        guard !operations.isEmpty else { return }
        if let failure = state.submit(operations, wait: true) { throw failure }
    }

    /// ``submit(_:)`` without blocking a thread: the caller is suspended until its writes are
    /// committed (or fail), and the thread goes on with other work meanwhile. This is what the
    /// engine's per-build state changes use: blocked cooperative threads (two on 2 cores) would
    /// serialize every build behind each commit.
    func submitAsync(_ operations: [Operation]) async throws(StorageError) {
        guard !operations.isEmpty else { return }
        let failure = await withCheckedContinuation { (continuation: CheckedContinuation<StorageError?, Never>) in
            state.submitResuming(operations, continuation)
        }
        if let failure { throw failure }
    }

    /// Hands `operations` in without waiting; they are committed within one transaction's time.
    func enqueue(_ operations: [Operation]) {
        guard !operations.isEmpty else { return }
        _ = state.submit(operations, wait: false)
    }

    /// Waits until everything handed in so far is committed. Throws the first failure of an
    /// enqueued write since the last flush (and forgets it).
    func flush() throws(StorageError) {
        if let failure = state.waitForPending() { throw failure }
    }

    /// ``flush()`` without blocking a thread: while the storage fails, held writes may take up to
    /// the hold to be written or given up on, and a blocked cooperative thread would stall the
    /// daemon meanwhile.
    func flushAsync() async throws(StorageError) {
        let failure = await withCheckedContinuation { (continuation: CheckedContinuation<StorageError?, Never>) in
            state.condition.lock()
            let target = state.lastTicket
            guard state.committedTicket < target else {
                defer { state.enqueuedFailure = nil }
                let failure = state.enqueuedFailure
                state.condition.unlock()
                continuation.resume(returning: failure)
                return
            }
            state.flushWaiters.append((target, continuation))
            state.condition.unlock()
        }
        if let failure { throw failure }
    }

    /// Suspends the caller (without blocking a thread) while more than `limit` operations wait to
    /// be written: a command printing faster than SQLite commits is slowed to the commit rate
    /// instead of growing the queue without bound.
    func waitForCapacity(limit: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            state.condition.lock()
            if state.pendingOperations <= limit {
                state.condition.unlock()
                continuation.resume()
                return
            }
            state.capacityWaiters.append(continuation)
            state.condition.unlock()
        }
    }

    /// How many operations wait to be written (tests watch the queue with it).
    var queuedOperations: Int {
        state.condition.lock()
        defer { state.condition.unlock() }
        return state.pendingOperations
    }

    /// Waits until everything handed in so far is committed, for a write that must come after
    /// it (a build's next state change). Throws at once instead while the writer holds writes
    /// through an outage: the caller tries again later, and no thread waits out the hold.
    func waitUntilWritten() throws(StorageError) {
        state.condition.lock()
        defer { state.condition.unlock() }
        let target = state.lastTicket
        while state.committedTicket < target {
            if let failure = state.holdingFailure { throw failure }
            state.condition.wait()
        }
    }

    /// The queue of writes and the bookkeeping of who waits for what.
    ///
    /// Ownership: `condition` (a mutex with a condition variable) guards every variable field;
    /// they are read and written only while it is locked. That is the proof behind
    /// `@unchecked Sendable`.
    private final class State: @unchecked Sendable {
        let condition = ConditionLock()
        var pending: [(ticket: UInt64, operations: [Operation])] = []
        /// How many operations `pending` holds, and who waits for it to shrink.
        var pendingOperations = 0
        var capacityWaiters: [CheckedContinuation<Void, Never>] = []
        var lastTicket: UInt64 = 0
        var committedTicket: UInt64 = 0
        /// Failures of tickets whose callers wait for them.
        var failures: [UInt64: StorageError] = [:]
        /// Tickets nobody waits for; their first failure is kept for `flush`.
        var unwaited: Set<UInt64> = []
        var enqueuedFailure: StorageError?
        /// Async submits waiting for their own ticket (``submitAsync(_:)``).
        var submitWaiters: [UInt64: CheckedContinuation<StorageError?, Never>] = [:]
        /// Async flushes waiting for a ticket to be committed.
        var flushWaiters: [(target: UInt64, continuation: CheckedContinuation<StorageError?, Never>)] = []
        /// Set while the writer holds writes through a transient failure: a caller who would wait
        /// for its write fails at once instead (and tries again later, without blocking a thread
        /// for the whole hold).
        var holdingFailure: StorageError?
        var stopped = false
        /// The writer thread sleeps on `wakeUp` (not on `condition`) when idle, so a submit wakes
        /// it only then, and a commit's broadcast wakes only callers.
        var writerIdle = false
        let wakeUp = DispatchSemaphore(value: 0)

        /// Must hold `condition`.
        func wakeWriterIfIdle() {
            if writerIdle {
                writerIdle = false
                wakeUp.signal()
            }
        }

        func submit(_ operations: [Operation], wait: Bool) -> StorageError? {
            condition.lock()
            defer { condition.unlock() }
            if wait, let holdingFailure { return holdingFailure }
            lastTicket += 1
            let ticket = lastTicket
            pending.append((ticket, operations))
            pendingOperations += operations.count
            wakeWriterIfIdle()
            guard wait else {
                unwaited.insert(ticket)
                return nil
            }
            while committedTicket < ticket && failures[ticket] == nil {
                // The writer started holding while this waited in the queue: fail now, unwritten
                // (the caller tries again later), rather than wait out the hold on a thread.
                if let holdingFailure, let index = pending.firstIndex(where: { $0.ticket == ticket }) {
                    pendingOperations -= pending[index].operations.count
                    pending.remove(at: index)
                    return holdingFailure
                }
                condition.wait()
            }
            return failures.removeValue(forKey: ticket)
        }

        /// Queues `operations` and leaves `continuation` to be resumed by the writer with the
        /// ticket's outcome; resumes it at once with the failure while the writer holds writes.
        func submitResuming(_ operations: [Operation], _ continuation: CheckedContinuation<StorageError?, Never>) {
            condition.lock()
            if let holdingFailure {
                condition.unlock()
                continuation.resume(returning: holdingFailure)
                return
            }
            lastTicket += 1
            pending.append((lastTicket, operations))
            pendingOperations += operations.count
            submitWaiters[lastTicket] = continuation
            wakeWriterIfIdle()
            condition.unlock()
        }

        /// Must hold `condition`. When the writer starts holding: async submitters whose writes
        /// failed in the batch, or still wait in the queue, fail now (as blocked ones do), and
        /// the queued writes are taken out unwritten. Returns the continuations to resume.
        func failAsyncSubmitters(batchFailures: [UInt64: StorageError], holding: StorageError)
            -> [(CheckedContinuation<StorageError?, Never>, StorageError)]
        {
            var resumed: [(CheckedContinuation<StorageError?, Never>, StorageError)] = []
            for (ticket, failure) in batchFailures {
                if let continuation = submitWaiters.removeValue(forKey: ticket) {
                    failures.removeValue(forKey: ticket)
                    resumed.append((continuation, failure))
                }
            }
            pending.removeAll { entry in
                guard let continuation = submitWaiters.removeValue(forKey: entry.ticket) else { return false }
                pendingOperations -= entry.operations.count
                resumed.append((continuation, holding))
                return true
            }
            return resumed
        }

        func waitForPending() -> StorageError? {
            condition.lock()
            defer { condition.unlock() }
            let target = lastTicket
            while committedTicket < target { condition.wait() }
            defer { enqueuedFailure = nil }
            return enqueuedFailure
        }

        func stop() {
            condition.lock()
            stopped = true
            wakeWriterIfIdle()
            condition.unlock()
        }

        func unwaitedContains(_ ticket: UInt64) -> Bool {
            condition.lock()
            defer { condition.unlock() }
            return unwaited.contains(ticket)
        }

        var isStopped: Bool {
            condition.lock()
            defer { condition.unlock() }
            return stopped
        }

        /// Commits `operations`, holding them through a transient failure (see ``Holding``).
        /// Returns the failure that ended the attempts, if any.
        static func commitHolding(
            _ operations: [Operation], state: State, holding: Holding,
            commit: ([Operation]) throws(StorageError) -> Void
        ) -> StorageError? {
            var operations = operations
            var backoff: Duration = .milliseconds(50)
            var firstFailure: ContinuousClock.Instant?
            while true {
                do {
                    try commit(operations)
                    holding.health.succeeded()
                    return nil
                } catch {
                    guard error.isTransient, !state.isStopped else { return error }
                    if holding.health.failed(error) { logStorage("holding writes until the storage is back") }
                    let now = ContinuousClock.now
                    if firstFailure == nil { firstFailure = now }
                    if now - firstFailure! >= holding.hold {
                        let kept = operations.filter { !holding.droppable($0) }
                        if kept.count < operations.count {
                            for operation in operations where holding.droppable(operation) {
                                if let build = holding.logLineBuild(operation) {
                                    holding.health.dropLogLine(buildID: build, reason: error.message)
                                }
                            }
                            logStorage(
                                "gave up on \(operations.count - kept.count) held log and progress writes after \(holding.hold): \(error.message)"
                            )
                            operations = kept
                            if operations.isEmpty { return nil }
                        }
                    }
                    DedicatedThread.sleep(backoff)
                    backoff = min(backoff * 2, .seconds(2))
                }
            }
        }

        /// Commits `operations`; on a full disk, when they are only what must be recorded (builds'
        /// starts and ends: the log lines before them were given up on), gives back the space set
        /// aside for this (``StorageReserve``) and tries once more. True when it gave it back.
        static func commitUsingReserve(
            _ operations: [Operation], holding: Holding, commit: ([Operation]) throws(StorageError) -> Void
        ) throws(StorageError) -> Bool {
            do {
                try commit(operations)
                return false
            } catch {
                guard error.code == .full, !operations.contains(where: holding.droppable), holding.releaseReserve()
                else { throw error }
                logStorage(
                    "the disk is full: gave back the space set aside (\(StorageReserve.size / 1024) KiB) so that builds' starts and ends are recorded; free space on that file system"
                )
                try commit(operations)
                return true
            }
        }

        /// The writer thread: commits everything pending, again and again, until stopped.
        static func run(_ state: State, holding: Holding, commit: ([Operation]) throws(StorageError) -> Void) {
            // The reserve was given back, and is not in place again yet.
            var reserveGiven = false
            while true {
                state.condition.lock()
                if state.pending.isEmpty {
                    if state.stopped {
                        let waiters = state.flushWaiters
                        state.flushWaiters = []
                        state.condition.unlock()
                        for waiter in waiters { waiter.continuation.resume(returning: nil) }
                        return
                    }
                    state.writerIdle = true
                    state.condition.unlock()
                    state.wakeUp.wait()
                    continue
                }
                let batch = state.pending
                state.pending = []
                state.pendingOperations = 0
                let waiters = state.capacityWaiters
                state.capacityWaiters = []
                state.condition.unlock()
                waiters.forEach { $0.resume() }

                var batchFailures: [UInt64: StorageError] = [:]
                let started = ContinuousClock.now
                defer {
                    let elapsed = ContinuousClock.now - started
                    DaemonMetrics.shared.committed(
                        seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
                }
                do {
                    if try commitUsingReserve(batch.flatMap(\.operations), holding: holding, commit: commit) {
                        reserveGiven = true
                    } else if reserveGiven {
                        reserveGiven = !holding.restoreReserve()
                    }
                    holding.health.succeeded()
                } catch  where error.isTransient {
                    // Callers waiting for their writes fail at once (they try again later);
                    // enqueued writes are held and tried again (``Holding``).
                    state.condition.lock()
                    let waited = batch.filter { !state.unwaited.contains($0.ticket) }
                    for entry in waited { state.failures[entry.ticket] = error }
                    state.holdingFailure = error
                    let failedAsync = state.failAsyncSubmitters(
                        batchFailures: Dictionary(waited.map { ($0.ticket, error) }, uniquingKeysWith: { $1 }),
                        holding: error)
                    state.condition.broadcast()
                    state.condition.unlock()
                    for (continuation, failure) in failedAsync { continuation.resume(returning: failure) }
                    let held = batch.filter { state.unwaitedContains($0.ticket) }
                    if !held.isEmpty,
                        let failure = commitHolding(
                            held.flatMap(\.operations), state: state, holding: holding, commit: commit)
                    {
                        for entry in held { batchFailures[entry.ticket] = failure }  // given up: the writer stops
                    }
                    state.condition.lock()
                    state.holdingFailure = nil
                    state.condition.unlock()
                } catch {
                    // One caller's bad write (a deleted build, say) fails that caller only: each
                    // entry alone. A waiting caller gets one plain attempt (it is never held, and
                    // never told "stored" for what was given up on); enqueued ones may be held.
                    for entry in batch {
                        if state.unwaitedContains(entry.ticket) {
                            if let failure = commitHolding(
                                entry.operations, state: state, holding: holding, commit: commit)
                            {
                                batchFailures[entry.ticket] = failure
                            }
                        } else {
                            do { try commit(entry.operations) } catch { batchFailures[entry.ticket] = error }
                        }
                    }
                }

                var submitted: [(CheckedContinuation<StorageError?, Never>, StorageError?)] = []
                state.condition.lock()
                // Everything before the first ticket still queued is settled: this batch, and
                // tickets taken back out of the queue meanwhile (callers failed at once while the
                // writer held writes), which are never committed. Counting only this batch left a
                // flush waiting for such a ticket until some later write came along.
                state.committedTicket = (state.pending.first?.ticket ?? state.lastTicket + 1) - 1
                for entry in batch {
                    let failure = batchFailures[entry.ticket]
                    if state.unwaited.remove(entry.ticket) != nil {
                        if state.enqueuedFailure == nil { state.enqueuedFailure = failure }
                        // Enqueued log lines that failed for good count against their builds.
                        if let failure {
                            for operation in entry.operations {
                                if let build = holding.logLineBuild(operation) {
                                    holding.health.dropLogLine(buildID: build, reason: failure.message)
                                }
                            }
                        }
                    } else if let continuation = state.submitWaiters.removeValue(forKey: entry.ticket) {
                        submitted.append((continuation, failure ?? state.failures.removeValue(forKey: entry.ticket)))
                    } else if let failure {
                        state.failures[entry.ticket] = failure
                    }
                }
                var ready: [CheckedContinuation<StorageError?, Never>] = []
                var failure: StorageError?
                state.flushWaiters.removeAll { waiter in
                    guard waiter.target <= state.committedTicket else { return false }
                    ready.append(waiter.continuation)
                    return true
                }
                if !ready.isEmpty {
                    failure = state.enqueuedFailure
                    state.enqueuedFailure = nil
                }
                state.condition.broadcast()
                state.condition.unlock()
                for continuation in ready { continuation.resume(returning: failure) }
                for (continuation, failure) in submitted { continuation.resume(returning: failure) }
            }
        }
    }
}

/// The writer's own messages, through the process's logging system (the journal, in the daemon).
private func logStorage(_ message: String) {
    Logger(label: "jobcontrol.storage").warning("\(message)")
}
