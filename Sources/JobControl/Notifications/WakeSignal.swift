import Dispatch
import FoundationEssentials
import Glibc
import Synchronization

/// Wakes one waiter (the notification deliverer) early: a signal given while nobody waits is
/// kept for the next wait.
///
/// Ownership: `state` (a `Mutex`) holds the pending flag and the waiter: its continuation and
/// the timer that ends its wait. Whoever takes the waiter out of it resumes the continuation,
/// exactly once, and cancels the timer (so a busy daemon has one timer pending, not one per
/// wake-up).
public final class WakeSignal: Sendable {
    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Void, Never>
        /// Set just after the waiter is stored (the timer must not fire before it is).
        var timer: Task<Void, Never>?
    }

    private struct State {
        var pending = false
        var waiter: Waiter?
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    public func signal() {
        let waiter = state.withLock { state in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil as Waiter?
            }
            state.waiter = nil
            return waiter
        }
        Self.end(waiter)
    }

    /// Returns at the next signal (at once if one is pending), after `timeout`, or when the task
    /// is cancelled. One waiter at a time.
    func wait(upTo timeout: Duration) async {
        let id: UInt64? = state.withLock { state in
            if state.pending {
                state.pending = false
                return nil
            }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.pending || Task.isCancelled {
                        state.pending = false
                        return true
                    }
                    state.waiter = Waiter(id: id, continuation: continuation, timer: nil)
                    return false
                }
                if resumeNow {
                    continuation.resume()
                    return
                }
                // Cancelled when the wait ends otherwise: its sleep returns at once, and it finds
                // the waiter gone.
                let timer = Task { [self] in
                    try? await Task.sleep(for: timeout)
                    if !Task.isCancelled { Self.end(take(id)) }
                }
                let stillWaiting = state.withLock { state -> Bool in
                    guard state.waiter?.id == id else { return false }
                    state.waiter?.timer = timer
                    return true
                }
                if !stillWaiting { timer.cancel() }
            }
        } onCancel: {
            Self.end(take(id))
        }
    }

    private func take(_ id: UInt64) -> Waiter? {
        state.withLock { state in
            guard let waiter = state.waiter, waiter.id == id else { return nil }
            state.waiter = nil
            return waiter
        }
    }

    private static func end(_ waiter: Waiter?) {
        guard let waiter else { return }
        waiter.timer?.cancel()
        waiter.continuation.resume()
    }
}
