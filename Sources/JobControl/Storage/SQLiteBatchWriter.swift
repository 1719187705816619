import Foundation
import GRDB

/// Group commit for log records and progress reports: callers from any thread hand in their
/// writes; whatever arrived while the previous transaction ran is committed together in the next
/// one, which starts at once (no timer). A caller either waits until its writes are committed
/// (``submit(_:)``: durable when it returns) or goes on at once (``enqueue(_:)``) and later waits
/// for everything handed in so far (``flush()``).
///
/// The transactions run on a dedicated thread, not on a Dispatch queue: callers block in
/// `submit`, and blocked Dispatch or Swift-concurrency workers must never be what the writer waits
/// for a thread behind. The thread ends when the writer is released.
final class SQLiteBatchWriter: Sendable {
    enum Operation {
        case log(LogRecord)
        case progress(buildID: Int64, ProgressReport)
        /// Build state changes ride the same transactions, after every write handed in before
        /// them: one commit for a build's last lines and its end, shared with concurrent builds.
        case startBuild(id: Int64, time: Double)
        case finishBuild(id: Int64, time: Double, success: Bool, skipped: Bool, retval: String?, exception: String?, traceback: String?)
        case buildProcess(id: Int64, group: Int32, startTicks: Int64)
    }

    private let state: State

    init(writer: any DatabaseWriter, describe: @escaping @Sendable (any Error) -> StorageError) {
        state = State()
        let state = state
        let thread = Thread { State.run(state, writer: writer, describe: describe) }
        thread.name = "jobcontrol.storage-writer"
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
        static func run(_ state: State, writer: any DatabaseWriter, describe: (any Error) -> StorageError) {
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
                    try writer.write { db in
                        for entry in batch { try apply(entry.operations, db) }
                    }
                } catch {
                    for entry in batch {
                        do {
                            try writer.write { db in try apply(entry.operations, db) }
                        } catch {
                            batchFailures[entry.ticket] = describe(error)
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

        static func apply(_ operations: [Operation], _ db: Database) throws {
            for operation in operations {
                switch operation {
                case .log(let record):
                    try db.cachedStatement(sql: SQLiteQueries.insertLog).execute(arguments: [
                        record.buildID, record.created.timeIntervalSince1970, record.level,
                        Packing.pack(record.recordJSON), record.exceptionTraceback.map(Packing.pack),
                    ])
                case .progress(let buildID, let report):
                    try db.cachedStatement(sql: SQLiteQueries.upsertProgress).execute(arguments: [
                        buildID, report.group.name, report.current, report.total, report.statusLine,
                    ])
                case .startBuild(let id, let time):
                    try db.cachedStatement(sql: SQLiteQueries.startBuild).execute(arguments: [time, id])
                    guard db.changesCount == 1 else { throw StorageError(.noSuchBuild, "no build with id \(id)") }
                case .finishBuild(let id, let time, let success, let skipped, let retval, let exception, let traceback):
                    try db.cachedStatement(sql: SQLiteQueries.finishBuild).execute(arguments: [
                        time, success, skipped, retval, exception, traceback, id,
                    ])
                    guard db.changesCount == 1 else { throw StorageError(.noSuchBuild, "no build with id \(id)") }
                case .buildProcess(let id, let group, let start):
                    try db.cachedStatement(sql: "UPDATE build SET process_group = ?, process_start = ? WHERE id = ?")
                        .execute(arguments: [group, start, id])
                }
            }
        }
    }
}
