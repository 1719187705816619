import CLinux
import Glibc

/// Starts an OS thread of its own for work that blocks for good (an epoll loop, a timerfd, the
/// storage's commit loop), so it never holds a Dispatch or Swift-concurrency worker. What
/// Foundation's `Thread` did here, without Foundation (issue 19: the daemon links
/// FoundationEssentials only).
package enum DedicatedThread {
    /// Runs `body` on a new, detached thread named `name` (at most 15 bytes show in `ps -L`).
    /// Failing to create a thread leaves the daemon without a part it needs: that stops it.
    package static func start(name: String, _ body: @escaping @Sendable () -> Void) {
        guard startIfPossible(name: name, body) else {
            fatalError("cannot start thread \(name): \(String(cString: strerror(errno)))")
        }
    }

    /// ``start(name:_:)`` for work that can do without: returns false (and runs nothing) when the
    /// system refuses another thread, where `start` would stop the daemon.
    package static func startIfPossible(name: String, _ body: @escaping @Sendable () -> Void) -> Bool {
        let box = Unmanaged.passRetained(Start(name: name, body: body)).toOpaque()
        var thread = pthread_t()
        let code = pthread_create(
            &thread, nil,
            { argument in
                let start = Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue()
                jobcontrol_set_thread_name(String(start.name.utf8.prefix(15)) ?? "jobcontrol")
                start.body()
                return nil
            }, box)
        guard code == 0 else {
            Unmanaged<Start>.fromOpaque(box).release()
            errno = code  // for the caller's message
            return false
        }
        pthread_detach(thread)
        return true
    }

    /// Sleeps the calling thread for `duration` (for threads of this kind only: never on a
    /// Dispatch or Swift-concurrency worker).
    package static func sleep(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        guard seconds > 0 || attoseconds > 0 else { return }
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }

    private final class Start {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
}
