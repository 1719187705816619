import CSystemd
import Glibc
import Synchronization

/// Talks to the service manager through `sd_notify(3)`. Outside systemd (no `NOTIFY_SOCKET`)
/// every call does nothing, as the protocol asks.
///
/// Thread-safe: libsystemd reads the environment on each call; the one piece of state, whether
/// `STOPPING=1` was sent, is a mutex shared by the copies of one notifier (one per daemon), held
/// across the check and the send of `READY=1` and `STOPPING=1`.
public struct Notifier: Sendable {
    public init() {
        sender = { sd_notify(0, $0) > 0 }
    }

    /// A notifier whose messages go to `sender` instead of the service manager (tests).
    package init(sender: @escaping @Sendable (String) -> Bool) {
        self.sender = sender
    }

    private let sender: @Sendable (String) -> Bool

    /// Set once `STOPPING=1` has gone out: no `READY=1` may follow it (a reload that was under
    /// way when SIGTERM came ended with READY=1 after STOPPING=1, telling the service manager the
    /// stopping service was up again).
    /// The flag is held while the message goes out: with an atomic checked before the send, a
    /// reload that had checked it could still send READY=1 after a stop's STOPPING=1 (a CI run
    /// saw it).
    private let stopping = StoppingFlag()

    private final class StoppingFlag: Sendable {
        let sent = Mutex<Bool>(false)
    }

    /// Sends `READY=1` with a status line. Call only once config, storage and socket are up.
    /// After ``stopping(status:)``, sends nothing: the stop's status stays.
    @discardableResult
    public func ready(status: String) -> Bool {
        stopping.sent.withLock { sent in
            sent ? false : send("READY=1\nSTATUS=\(Self.oneLine(status))")
        }
    }

    /// Updates the one-line status shown by `systemctl status`; after ``stopping(status:)``,
    /// does nothing (the stop's own status stays).
    @discardableResult
    public func status(_ status: String) -> Bool {
        stopping.sent.withLock { sent in
            sent ? false : send("STATUS=\(Self.oneLine(status))")
        }
    }

    /// Sends `RELOADING=1` with the monotonic time systemd asks for, and returns true; false,
    /// sending nothing, once ``stopping(status:)`` was called: a stopping daemon does not reload.
    public func reloading(monotonicMicroseconds: UInt64) -> Bool {
        stopping.sent.withLock { sent in
            guard !sent else { return false }
            send("RELOADING=1\nMONOTONIC_USEC=\(monotonicMicroseconds)")
            return true
        }
    }

    /// Sends `STOPPING=1` at the start of a graceful stop.
    @discardableResult
    public func stopping(status: String) -> Bool {
        stopping.sent.withLock { sent in
            sent = true
            return send("STOPPING=1\nSTATUS=\(Self.oneLine(status))")
        }
    }

    /// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC` (honouring `WATCHDOG_PID`), or nil
    /// when the service manager expects no pings.
    public func watchdogPingInterval() -> Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(microseconds / 2))
    }

    /// Whether a service manager listens (`NOTIFY_SOCKET` is set).
    public var isConnected: Bool { getenv("NOTIFY_SOCKET") != nil }

    /// Tells the service manager the daemon is alive.
    @discardableResult
    public func watchdogPing() -> Bool {
        send("WATCHDOG=1")
    }

    /// Sends raw `KEY=value` lines. Returns true when a service manager received them.
    @discardableResult
    public func send(_ state: String) -> Bool {
        sender(state)
    }

    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
