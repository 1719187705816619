import Foundation

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

    /// `commit` writes its operations in one transaction, or throws and writes none of them.
    init(name: String, commit: @escaping @Sendable ([Operation]) throws(StorageError) -> Void) {
        state = State()
        let state = state
        let thread = Thread { State.run(state, commit: commit) }
        thread.name = name
        thread.start()
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

    /// Hands `operations` in without waiting; they are committed within one transaction's time.
    func enqueue(_ operations: [Operation]) {
        guard !operations.isEmpty else { return }
        _ = state.submit(operations, wait: false)
    }

    /// Waits until everything handed in so far is committed. Throws the first failure of an
    /// enqueued write since the last flush (and forgets it).
    func flush() throws(StorageError) {
        if let failure = state.waitForPending(takingFailure: true) { throw failure }
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

    /// Waits until everything handed in so far is committed, leaving failures for ``flush()``.
    func waitForPending() {
        _ = state.waitForPending(takingFailure: false)
    }

    /// The queue of writes and the bookkeeping of who waits for what.
    ///
    /// Ownership: `condition` (a mutex with a condition variable) guards every variable field;
    /// they are read and written only while it is locked. That is the proof behind
    /// `@unchecked Sendable`.
    private final class State: @unchecked Sendable {
        let condition = NSCondition()
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
            lastTicket += 1
            let ticket = lastTicket
            pending.append((ticket, operations))
            pendingOperations += operations.count
            wakeWriterIfIdle()
            guard wait else {
                unwaited.insert(ticket)
                return nil
            }
            while committedTicket < ticket { condition.wait() }
            return failures.removeValue(forKey: ticket)
        }

        func waitForPending(takingFailure: Bool) -> StorageError? {
            condition.lock()
            defer { condition.unlock() }
            let target = lastTicket
            while committedTicket < target { condition.wait() }
            guard takingFailure else { return nil }
            defer { enqueuedFailure = nil }
            return enqueuedFailure
        }

        func stop() {
            condition.lock()
            stopped = true
            wakeWriterIfIdle()
            condition.unlock()
        }

        /// The writer thread: commits everything pending, again and again, until stopped.
        static func run(_ state: State, commit: ([Operation]) throws(StorageError) -> Void) {
            while true {
                state.condition.lock()
                if state.pending.isEmpty {
                    if state.stopped {
                        state.condition.unlock()
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
                do {
                    try commit(batch.flatMap(\.operations))
                } catch {
                    for entry in batch {
                        do {
                            try commit(entry.operations)
                        } catch {
                            batchFailures[entry.ticket] = error
                        }
                    }
                }

                state.condition.lock()
                state.committedTicket = batch.last!.ticket
                for entry in batch {
                    let failure = batchFailures[entry.ticket]
                    if state.unwaited.remove(entry.ticket) != nil {
                        if state.enqueuedFailure == nil { state.enqueuedFailure = failure }
                    } else if let failure {
                        state.failures[entry.ticket] = failure
                    }
                }
                state.condition.broadcast()
                state.condition.unlock()
            }
        }
    }
}
