import CLinux
import Dispatch
import FoundationEssentials
import Glibc
import Synchronization

/// Readiness of build commands' pipes and pidfds, for every build at once: one epoll set and one
/// thread that resumes whoever waits for a descriptor.
///
/// Each wait arms its descriptor for one report (EPOLLONESHOT), so a reader takes one chunk per
/// readiness and a slow consumer leaves the pipe full: the command then blocks on its writes
/// (backpressure), nothing is buffered here.
///
/// Ownership: `state` (a `Mutex`) holds the waiting continuations and the descriptors added to
/// the epoll set; the thread only takes continuations out of it and resumes them.
final class ProcessEvents: Sendable {
    static let shared = ProcessEvents()

    private struct State {
        var waiters: [Int32: CheckedContinuation<Void, Never>] = [:]
        var added: Set<Int32> = []
        /// Descriptors whose reader was told to stop (``interrupt(_:)``) until forgotten.
        var interrupted: Set<Int32> = []
    }

    private let epoll: Int32
    private let state = Mutex(State())

    private init() {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epoll >= 0, "epoll_create1 failed: \(String(cString: strerror(errno)))")
        DedicatedThread.start(name: "jc-process-ev") { [self] in run() }
    }

    /// The thread: waits for readiness and resumes the waiters, forever (the instance is shared
    /// for the life of the process).
    private func run() {
        var ready = [Int32](repeating: 0, count: 64)
        while true {
            let count = jobcontrol_epoll_wait(epoll, &ready, 64)
            guard count > 0 else { continue }  // EINTR
            var resumed: [CheckedContinuation<Void, Never>] = []
            state.withLock { state in
                for fd in ready[0..<Int(count)] {
                    if let waiter = state.waiters.removeValue(forKey: fd) { resumed.append(waiter) }
                }
            }
            for waiter in resumed { waiter.resume() }
        }
    }

    /// Returns once `fd` is readable (data, end of file, or for a pidfd: the process exited).
    /// When `cancellable`, it also returns at once when the task is cancelled (the caller checks
    /// `Task.isCancelled`).
    func readable(_ fd: Int32, cancellable: Bool = true) async {
        guard cancellable else {
            await wait(fd, ignoringCancellation: true)
            return
        }
        await withTaskCancellationHandler {
            await wait(fd, ignoringCancellation: false)
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: fd) }
            waiter?.resume()
        }
    }

    private func wait(_ fd: Int32, ignoringCancellation: Bool) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let armed: Bool = state.withLock { state in
                guard ignoringCancellation || !Task.isCancelled, !state.interrupted.contains(fd) else { return false }
                let first = state.added.insert(fd).inserted
                state.waiters[fd] = continuation
                guard jobcontrol_epoll_arm(epoll, fd, first ? 1 : 0) == 0 else {
                    state.waiters.removeValue(forKey: fd)
                    return false
                }
                return true
            }
            // Not armed (cancelled, or epoll refused the descriptor): the caller reads again
            // and sees the state for itself.
            if !armed { continuation.resume() }
        }
    }

    /// Tells the reader of `fd` to stop waiting: a wait in progress returns now, later ones at
    /// once, and ``isInterrupted(_:)`` says so (a command's pipe still held open after it exited).
    func interrupt(_ fd: Int32) {
        let waiter = state.withLock { state in
            state.interrupted.insert(fd)
            return state.waiters.removeValue(forKey: fd)
        }
        waiter?.resume()
    }

    func isInterrupted(_ fd: Int32) -> Bool {
        state.withLock { $0.interrupted.contains(fd) }
    }

    /// Takes `fd` out of the epoll set; call before closing it.
    func forget(_ fd: Int32) {
        state.withLock { state in
            state.interrupted.remove(fd)
            if state.added.remove(fd) != nil { _ = jobcontrol_epoll_remove(epoll, fd) }
        }
    }
}

/// Sleeps `duration` whether or not the task is cancelled: for the waits of a teardown, which a
/// cancelled build runs too (`Task.sleep` would return at once there, and a polling loop spin).
func uninterruptibleSleep(_ duration: Duration) async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        DispatchQueue.global().asyncAfter(deadline: .now() + duration.dispatchInterval) { continuation.resume() }
    }
}

extension Duration {
    /// The same span for Dispatch's timers (nanosecond precision).
    var dispatchInterval: DispatchTimeInterval {
        let (seconds, attoseconds) = components
        return .nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
    }
}
