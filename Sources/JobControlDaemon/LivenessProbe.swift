import Glibc
import JobControl
import JobControlSystemd
import Synchronization

/// The watchdog: when the scheduler and the engine last answered, and a thread of its own that
/// pings the service manager while they do. The pings are sent from that thread, not from a task:
/// when PostgreSQL hangs, blocking storage calls can hold both cooperative threads of this
/// machine for the statement timeout, and a task that pings waited with them (86 s without a
/// ping, past WatchdogSec=60). A scheduler that has not answered for two periods stops the
/// pings (the service manager then restarts the daemon), unless a database call is under way or
/// the storage is known to be out: that is weather, and each call is bounded by its timeout.
///
/// Ownership: `lastAnswer` and `stopped` behind their mutexes; the thread only reads them.
final class LivenessProbe: Sendable {
    private let lastAnswer = Mutex<ContinuousClock.Instant>(.now)
    private let stopped = Mutex(false)

    /// The scheduler and the engine have just answered.
    func answered() { lastAnswer.withLock { $0 = .now } }

    /// No ping after this (the daemon is stopping).
    func stop() { stopped.withLock { $0 = true } }

    /// Starts the pinging thread: a ping every `interval` while the daemon is alive.
    func startPinging(every interval: Duration, notifier: Notifier, health: StorageHealth) {
        let (seconds, attoseconds) = interval.components
        let microseconds = UInt32(clamping: seconds * 1_000_000 + attoseconds / 1_000_000_000_000)
        DedicatedThread.start(name: "jc-watchdog") {
            while true {
                usleep(microseconds)
                if self.stopped.withLock({ $0 }) { return }
                let silent = ContinuousClock.now - self.lastAnswer.withLock { $0 }
                if silent < interval * 2 || health.isWaitingOnDatabase || health.unavailable != nil {
                    _ = notifier.watchdogPing()
                }
            }
        }
    }
}
