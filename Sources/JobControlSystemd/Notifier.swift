import CSystemd
import Glibc

/// Talks to the service manager through `sd_notify(3)`. Outside systemd (no `NOTIFY_SOCKET`)
/// every call does nothing, as the protocol asks.
///
/// Stateless and thread-safe: libsystemd reads the environment on each call.
public struct Notifier: Sendable {
    public init() {}

    /// Sends `READY=1` with a status line. Call only once config, storage and socket are up.
    @discardableResult
    public func ready(status: String) -> Bool {
        send("READY=1\nSTATUS=\(Self.oneLine(status))")
    }

    /// Updates the one-line status shown by `systemctl status`.
    @discardableResult
    public func status(_ status: String) -> Bool {
        send("STATUS=\(Self.oneLine(status))")
    }

    /// Sends `STOPPING=1` at the start of a graceful stop.
    @discardableResult
    public func stopping(status: String) -> Bool {
        send("STOPPING=1\nSTATUS=\(Self.oneLine(status))")
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
        sd_notify(0, state) > 0
    }

    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
