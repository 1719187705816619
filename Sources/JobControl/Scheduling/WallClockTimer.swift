import CLinux
import Dispatch
import FoundationEssentials
import Glibc
import Logging
import Synchronization

/// Wakes the scheduler at a wall-clock instant, and whenever the wall clock is set.
///
/// A `timerfd` on `CLOCK_REALTIME` with an absolute deadline fires at the due time even across
/// suspend and NTP adjustments, and with `TFD_TIMER_CANCEL_ON_SET` it also wakes when the clock
/// is stepped, so the scheduler recomputes instead of sleeping through a jump. No polling: an
/// idle daemon's thread sleeps in `read(2)` until the next due time.
///
/// Ownership: the file descriptor belongs to this object; its one thread blocks in `read` and
/// calls `onWake`. `state` (the armed deadline and whether it stopped) is guarded by its mutex.
public final class WallClockTimer: Sendable {
    private let descriptor: Int32
    private let state = Mutex<(deadline: Int64?, stopped: Bool)>((nil, false))
    private let onWake: @Sendable (_ clockChanged: Bool) -> Void

    private let logger: Logger

    /// `onWake` runs on the timer's thread when the deadline passes or the clock is set.
    ///
    /// Should the timer fail (no descriptor, a failing `timerfd_settime` or `read`), the failure
    /// is logged and the thread falls back to waking `onWake` every second: schedules keep
    /// firing, a second late at most, instead of stopping without a word.
    public init(
        logger: Logger = Logger(label: "jobcontrol.timer"), onWake: @escaping @Sendable (_ clockChanged: Bool) -> Void
    ) {
        descriptor = timerfd_create(CLOCK_REALTIME, Int32(TFD_CLOEXEC))
        self.logger = logger
        if descriptor < 0 {
            logger.critical(
                "cannot create the scheduler's timer (timerfd_create: \(String(cString: strerror(errno)))); waking every second instead"
            )
        }
        self.onWake = onWake
        DedicatedThread.start(name: "jc-timer") { [self] in loop() }
    }

    /// Arms the timer for `instant` (microseconds since the epoch), or disarms it when nil.
    public func arm(at instant: Int64?) {
        state.withLock { state in
            guard !state.stopped else { return }
            state.deadline = instant
            set(instant)
        }
    }

    /// Stops the thread and closes the descriptor.
    public func stop() {
        state.withLock { state in
            guard !state.stopped else { return }
            state.stopped = true
            set(1)  // an instant long past: the thread wakes at once and sees `stopped`
        }
    }

    private func set(_ instant: Int64?) {
        var spec = itimerspec()
        if let instant {
            let clamped = max(instant, 1)
            spec.it_value.tv_sec = Int(clamped / 1_000_000)
            spec.it_value.tv_nsec = Int(clamped % 1_000_000) * 1000
        }
        // With a zero it_value the timer is disarmed (and clock changes are not reported, which
        // is fine: nothing is scheduled).
        guard descriptor >= 0 else { return }
        if timerfd_settime(descriptor, Int32(TFD_TIMER_ABSTIME) | Int32(TFD_TIMER_CANCEL_ON_SET), &spec, nil) != 0 {
            logger.error("cannot arm the scheduler's timer (timerfd_settime: \(String(cString: strerror(errno))))")
        }
    }

    private func loop() {
        var expirations: UInt64 = 0
        while descriptor >= 0 {
            let count = read(descriptor, &expirations, 8)
            let clockChanged = count < 0 && errno == ECANCELED
            if count < 0 && !clockChanged {
                if errno == EINTR { continue }
                logger.critical(
                    "the scheduler's timer failed (read: \(String(cString: strerror(errno)))); waking every second instead"
                )
                close(descriptor)
                return pollEverySecond()
            }
            let stopped = state.withLock { state in
                if clockChanged { set(state.deadline) }  // re-arm: a cancelled timer stays cancelled
                return state.stopped
            }
            if stopped { break }
            onWake(clockChanged)
        }
        if descriptor >= 0 { close(descriptor) } else { pollEverySecond() }
    }

    /// The fallback without a timer descriptor: wake once a second until stopped.
    private func pollEverySecond() {
        while !state.withLock({ $0.stopped }) {
            sleep(1)
            onWake(false)
        }
    }
}
