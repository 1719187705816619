import Dispatch
import FoundationEssentials
import Glibc
import Synchronization

/// A build's output pipes that are still being read: the readers say when they close one, the
/// exit watcher waits for both (with a time limit) and interrupts the readers of those still open.
///
/// Ownership: `state` (a `Mutex`) holds the open descriptors and the one waiting continuation.
/// A reader takes its descriptor out *before* closing it, and interrupts happen under the lock:
/// a closed number, which the next pipe of another build may reuse, is never interrupted.
final class OpenPipes: Sendable {
    private struct State {
        var open: Set<Int32>
        var waiter: CheckedContinuation<Bool, Never>?
    }

    private let state: Mutex<State>

    init(_ descriptors: [Int32]) {
        state = Mutex(State(open: Set(descriptors)))
    }

    /// `fd`'s reader is done with it (call before closing it).
    func closing(_ fd: Int32) {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            state.open.remove(fd)
            guard state.open.isEmpty else { return nil }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: true)
    }

    /// True once every pipe is closed; false if `limit` passed first. Not cancellable.
    func allClosed(within limit: Duration) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let done = state.withLock { state in
                if !state.open.isEmpty { state.waiter = continuation }
                return state.open.isEmpty
            }
            if done {
                continuation.resume(returning: true)
                return
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + limit.dispatchInterval) { [self] in
                let waiter = state.withLock { state in
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume(returning: false)
            }
        }
    }

    /// Whether every writer of the pipes still open has closed its end (poll's POLLHUP): their
    /// readers then reach the end by themselves.
    func writersGone() -> Bool {
        state.withLock { state in
            var descriptors = state.open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            guard !descriptors.isEmpty else { return true }
            guard poll(&descriptors, nfds_t(descriptors.count), 0) >= 0 else { return false }
            return descriptors.allSatisfy { $0.revents & Int16(POLLHUP) != 0 }
        }
    }

    /// Interrupts the readers of the pipes still open: they read what is buffered and stop.
    func interruptOpen() {
        state.withLock { state in
            for fd in state.open { ProcessEvents.shared.interrupt(fd) }
        }
    }
}
