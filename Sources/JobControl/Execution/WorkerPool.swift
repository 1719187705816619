import Dispatch
import Synchronization

/// Runs work items with at most `limit` at once overall, and at most the limit of a named pool
/// for items of that pool; first come first served, except that an item waiting for a full pool
/// does not hold up items of other pools.
///
/// Ownership: the serial `queue` owns `limit`, `poolLimits`, `running`, `runningByPool` and
/// `pending`; they are read and written only in blocks on that queue, which is what makes the
/// `@unchecked Sendable` below sound. Each admitted item runs as its own task; when it ends, it
/// hands its slots back on the queue.
public final class WorkerPool: @unchecked Sendable {
    public typealias Work = @Sendable () async -> Void

    private let queue = DispatchQueue(label: "io.jobcontrol.worker-pool")
    private var limit: Int
    private var poolLimits: [String: Int]
    private var running = 0
    private var runningByPool: [String: Int] = [:]
    private var pending: [(pool: String?, work: @Sendable (WorkerSlot) async -> Void)] = []

    public init(limit: Int, pools: [String: Int] = [:]) {
        precondition(limit >= 1, "a worker pool needs at least one worker")
        self.limit = limit
        self.poolLimits = pools
    }

    /// Queues `work` (in `pool`, if given); it starts as soon as a worker, and a slot of its pool,
    /// are free. A pool without a configured limit is limited by the global limit only.
    public func submit(pool: String? = nil, _ work: @escaping Work) {
        submitHoldingSlot(pool: pool) { _ in await work() }
    }

    /// ``submit(pool:_:)`` for work that may hand its slot back before it ends (``WorkerSlot``):
    /// a build gives its worker back when its process has ended, and records its end afterwards
    /// without keeping the next build waiting.
    public func submitHoldingSlot(pool: String? = nil, _ work: @escaping @Sendable (WorkerSlot) async -> Void) {
        queue.async {
            self.pending.append((pool, work))
            self.startReady()
        }
    }

    /// Changes the limits (on reload). Running builds go on; lower limits admit no new build until
    /// enough have ended, higher ones admit waiting builds at once.
    public func setLimits(_ newLimit: Int, pools: [String: Int]) {
        precondition(newLimit >= 1, "a worker pool needs at least one worker")
        queue.async {
            self.limit = newLimit
            self.poolLimits = pools
            self.startReady()
        }
    }

    /// Builds running now and builds waiting for a worker.
    public var counts: (running: Int, queued: Int) {
        queue.sync { (running, pending.count) }
    }

    /// How many more items would start at once now (free workers, less items already waiting).
    public var capacity: Int {
        queue.sync { max(0, limit - running - pending.count) }
    }

    /// Must run on `queue`.
    private func startReady() {
        dispatchPrecondition(condition: .onQueue(queue))
        var index = 0
        while running < limit, index < pending.count {
            let item = pending[index]
            if let pool = item.pool, let poolLimit = poolLimits[pool], runningByPool[pool, default: 0] >= poolLimit {
                index += 1  // its pool is full; later items of other pools may start
                continue
            }
            pending.remove(at: index)
            running += 1
            if let pool = item.pool { runningByPool[pool, default: 0] += 1 }
            let slot = WorkerSlot {
                self.queue.async {
                    self.running -= 1
                    if let pool = item.pool { self.runningByPool[pool, default: 1] -= 1 }
                    self.startReady()
                }
            }
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
/// Ownership: `released` is an atomic flag, so the first `release()` alone runs `onRelease`;
/// nothing else is mutable.
public final class WorkerSlot: Sendable {
    private let released = Atomic<Bool>(false)
    private let onRelease: @Sendable () -> Void

    init(onRelease: @escaping @Sendable () -> Void) {
        self.onRelease = onRelease
    }

    /// Hands the worker back now; later calls do nothing.
    public func release() {
        if !released.exchange(true, ordering: .acquiringAndReleasing) { onRelease() }
    }
}
