import Dispatch

/// Runs work items with at most `limit` at once, first come first served.
///
/// Ownership: the serial `queue` owns `limit`, `running` and `pending`; they are read and written
/// only in blocks on that queue, which is what makes the `@unchecked Sendable` below sound. Each admitted
/// item runs as its own task; when it ends, it hands its slot back on the queue.
public final class WorkerPool: @unchecked Sendable {
    public typealias Work = @Sendable () async -> Void

    private var limit: Int
    private let queue = DispatchQueue(label: "io.jobcontrol.worker-pool")
    private var running = 0
    private var pending: [Work] = []
    private var pendingHead = 0

    public init(limit: Int) {
        precondition(limit >= 1, "a worker pool needs at least one worker")
        self.limit = limit
    }

    /// Queues `work`; it starts as soon as a worker is free.
    public func submit(_ work: @escaping Work) {
        queue.async {
            self.pending.append(work)
            self.startReady()
        }
    }

    /// Changes the limit (on reload). Running builds go on; a lower limit admits no new build until
    /// enough have ended, a higher one admits waiting builds at once.
    public func setLimit(_ newLimit: Int) {
        precondition(newLimit >= 1, "a worker pool needs at least one worker")
        queue.async {
            self.limit = newLimit
            self.startReady()
        }
    }

    /// The current limit.
    public var currentLimit: Int { queue.sync { limit } }

    /// Builds running now and builds waiting for a worker.
    public var counts: (running: Int, queued: Int) {
        queue.sync { (running, pending.count - pendingHead) }
    }

    /// Must run on `queue`.
    private func startReady() {
        dispatchPrecondition(condition: .onQueue(queue))
        while running < limit, pendingHead < pending.count {
            let work = pending[pendingHead]
            pendingHead += 1
            if pendingHead > 64, pendingHead * 2 > pending.count {
                pending.removeFirst(pendingHead)
                pendingHead = 0
            }
            running += 1
            Task.detached {
                await work()
                self.queue.async {
                    self.running -= 1
                    self.startReady()
                }
            }
        }
    }
}
