import CLinux
import Foundation
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

    /// `onWake` runs on the timer's thread when the deadline passes or the clock is set.
    public init(onWake: @escaping @Sendable (_ clockChanged: Bool) -> Void) {
        descriptor = timerfd_create(CLOCK_REALTIME, Int32(TFD_CLOEXEC))
        self.onWake = onWake
        let thread = Thread { [self] in loop() }
        thread.name = "jobcontrol-timer"
        thread.start()
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
        _ = timerfd_settime(descriptor, Int32(TFD_TIMER_ABSTIME) | Int32(TFD_TIMER_CANCEL_ON_SET), &spec, nil)
    }

    private func loop() {
        var expirations: UInt64 = 0
        while true {
            let count = read(descriptor, &expirations, 8)
            let clockChanged = count < 0 && errno == ECANCELED
            if count < 0 && !clockChanged {
                if errno == EINTR { continue }
                break  // the descriptor is unusable; nothing more can be timed
            }
            let stopped = state.withLock { state in
                if clockChanged { set(state.deadline) }  // re-arm: a cancelled timer stays cancelled
                return state.stopped
            }
            if stopped { break }
            onWake(clockChanged)
        }
        close(descriptor)
    }
}
