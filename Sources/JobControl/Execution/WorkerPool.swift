import FoundationEssentials
import Synchronization

/// Runs work items with at most `limit` at once overall, and at most the limit of a named pool
/// for items of that pool; first come first served, except that an item waiting for a full pool
/// does not hold up items of other pools.
///
/// Ownership: `state` (a `Mutex`) holds the limits, the counts of running items and the queue
/// of pending ones; admission decisions are made under it, and the admitted items are started
/// after it is released. Each admitted item runs as its own task; when it ends (or hands its
/// slot back early), it takes the lock, and the items that frees are started by the same
/// thread: no hop through a queue of the pool's own, which was one more thread wake-up on every
/// build's way from its predecessor's end to its start.
public final class WorkerPool: Sendable {
    public typealias Work = @Sendable () async -> Void
    typealias SlotWork = @Sendable (WorkerSlot) async -> Void

    typealias Item = (pool: String?, key: Int64?, work: SlotWork)

    private struct State {
        var limit: Int
        var poolLimits: [String: Int]
        var running = 0
        var runningByPool: [String: Int] = [:]
        /// Waiting items, oldest first, from `head` on (taking the oldest is the usual case, and
        /// costs no move of the thousands a planned run may queue). Entries before `head` are
        /// nil (taken, their closures released); entries from `head` on never are.
        var pending: [Item?] = []
        var head = 0
        /// Set by ``stopAdmitting()`` (the daemon stops): waiting items stay where they are.
        var closed = false

        var waiting: Int { pending.count - head }

        /// Takes the items that may start now out of `pending`, counting them as running.
        mutating func admit() -> [Item] {
            var admitted: [Item] = []
            var index = head
            while !closed, running < limit, index < pending.count {
                guard let item = pending[index] else { preconditionFailure("a taken item after the head") }
                if let pool = item.pool, let poolLimit = poolLimits[pool],
                    runningByPool[pool, default: 0] >= poolLimit
                {
                    index += 1  // its pool is full; later items of other pools may start
                    continue
                }
                if index == head {
                    pending[index] = nil
                    head += 1
                    index += 1
                } else {
                    pending.remove(at: index)
                }
                running += 1
                if let pool = item.pool { runningByPool[pool, default: 0] += 1 }
                admitted.append(item)
            }
            if head > 64, head * 2 > pending.count {
                pending.removeFirst(head)
                head = 0
            }
            return admitted
        }
    }

    private let state: Mutex<State>

    public init(limit: Int, pools: [String: Int] = [:]) {
        precondition(limit >= 1, "a worker pool needs at least one worker")
        state = Mutex(State(limit: limit, poolLimits: pools))
    }

    /// Queues `work` (in `pool`, if given); it starts as soon as a worker, and a slot of its pool,
    /// are free. A pool without a configured limit is limited by the global limit only.
    public func submit(pool: String? = nil, _ work: @escaping Work) {
        submitHoldingSlot(pool: pool) { _ in await work() }
    }

    /// ``submit(pool:_:)`` for work that may hand its slot back before it ends (``WorkerSlot``):
    /// a build gives its worker back when its process has ended, and records its end afterwards
    /// without keeping the next build waiting.
    /// `key` names the item for ``startWaiting(key:)`` (a build's id).
    public func submitHoldingSlot(
        pool: String? = nil, key: Int64? = nil, _ work: @escaping @Sendable (WorkerSlot) async -> Void
    ) {
        let admitted = state.withLock { state in
            state.pending.append((pool, key, work))
            return state.admit()
        }
        start(admitted)
    }

    /// Starts the waiting item `key` now, outside the limits and holding no worker: a cancelled
    /// build that waits for a worker ends at once (recorded as cancelled) instead of when some
    /// worker frees, maybe hours later. False when no such item waits (it has started).
    public func startWaiting(key: Int64) -> Bool {
        let item = state.withLock { state -> Item? in
            guard let index = state.pending[state.head...].firstIndex(where: { $0?.key == key }) else { return nil }
            let item = state.pending[index]
            if index == state.head {
                state.pending[index] = nil
                state.head += 1
            } else {
                state.pending.remove(at: index)
            }
            return item
        }
        guard let item else { return false }
        Task.detached { await item.work(WorkerSlot {}) }
        return true
    }

    /// Takes the waiting items among `keys` out of the queue without starting them; returns
    /// their keys.
    public func dropWaiting(keys: Set<Int64>) -> Set<Int64> {
        state.withLock { state in
            var dropped: Set<Int64> = []
            var kept: [Item?] = []
            for item in state.pending[state.head...] {
                if let key = item?.key, keys.contains(key) {
                    dropped.insert(key)
                } else {
                    kept.append(item)
                }
            }
            state.pending = kept
            state.head = 0
            return dropped
        }
    }

    /// Admits nothing more, for good (the daemon stops): running items go on; waiting ones stay
    /// unstarted. Returns the keys of those waiting.
    public func stopAdmitting() -> Set<Int64> {
        state.withLock { state in
            state.closed = true
            return Set(state.pending[state.head...].compactMap { $0?.key })
        }
    }

    /// Changes the limits (on reload). Running builds go on; lower limits admit no new build until
    /// enough have ended, higher ones admit waiting builds at once.
    public func setLimits(_ newLimit: Int, pools: [String: Int]) {
        precondition(newLimit >= 1, "a worker pool needs at least one worker")
        let admitted = state.withLock { state in
            state.limit = newLimit
            state.poolLimits = pools
            return state.admit()
        }
        start(admitted)
    }

    /// Whether any named pool has a limit of its own.
    public var hasPoolLimits: Bool { state.withLock { !$0.poolLimits.isEmpty } }

    /// The named pools with no room for one more item: as many running and waiting as their
    /// limit allows. A daemon sharing a queue claims no builds of their jobs meanwhile.
    public var fullPools: Set<String> {
        state.withLock { state in
            var waitingByPool: [String: Int] = [:]
            for item in state.pending[state.head...] {
                if let pool = item?.pool { waitingByPool[pool, default: 0] += 1 }
            }
            return Set(
                state.poolLimits.filter { pool, limit in
                    state.runningByPool[pool, default: 0] + waitingByPool[pool, default: 0] >= limit
                }.keys)
        }
    }

    /// The keys of the items waiting for a worker.
    public var waitingKeys: Set<Int64> {
        state.withLock { Set($0.pending[$0.head...].compactMap { $0?.key }) }
    }

    /// Builds running now and builds waiting for a worker.
    public var counts: (running: Int, queued: Int) {
        state.withLock { ($0.running, $0.waiting) }
    }

    /// How many more items would start at once now (free workers, less items already waiting).
    public var capacity: Int {
        state.withLock { $0.closed ? 0 : max(0, $0.limit - $0.running - $0.waiting) }
    }

    /// Hands back the slot of an item of `pool`, and starts what that frees.
    private func finished(pool: String?) {
        let admitted = state.withLock { state in
            state.running -= 1
            if let pool { state.runningByPool[pool, default: 1] -= 1 }
            return state.admit()
        }
        start(admitted)
    }

    /// Starts admitted items, each as its own task (outside the lock).
    private func start(_ admitted: [Item]) {
        for item in admitted {
            let slot = WorkerSlot { [self] in finished(pool: item.pool) }
            Task.detached {
                await item.work(slot)
                slot.release()
            }
        }
    }
}

/// A running item's hold on a worker (and on a slot of its pool). It is handed back once: by
/// ``release()``, or when the item ends.
///
/// Ownership: `releasedAt` (a `Mutex`) is set by the first `release()` alone, which alone runs
/// `onRelease`; nothing else is mutable.
public final class WorkerSlot: Sendable {
    private let releasedAt = Mutex<Date?>(nil)
    private let onRelease: @Sendable () -> Void

    init(onRelease: @escaping @Sendable () -> Void) {
        self.onRelease = onRelease
    }

    /// Hands the worker back now; later calls do nothing.
    public func release() {
        let first = releasedAt.withLock { time in
            guard time == nil else { return false }
            time = Date()
            return true
        }
        if first { onRelease() }
    }

    /// When the worker was handed back (a build's end: the next build may start from then on).
    public var releaseTime: Date? { releasedAt.withLock { $0 } }
}
