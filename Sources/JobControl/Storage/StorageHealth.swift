import Dispatch
import FoundationEssentials
import Glibc
import Logging
import Synchronization

/// Whether a storage can write now, and what it had to give up: shown by `jobctl status` and in
/// systemd's `STATUS=`, and read by the engine when a build ends.
///
/// Ownership: each field is guarded by its mutex; any thread may report and read.
public final class StorageHealth: Sendable {
    /// Since when the storage cannot be reached or written (a database down, a disk full), and why;
    /// `direct` when a write of its own failed first (see ``failed(_:direct:)``).
    private let outage = Mutex<(since: Date, reason: String, direct: Bool)?>(nil)
    /// Log lines given up on (held while the storage failed, for longer than the hold), per build.
    private let dropped = Mutex<[Int64: (count: Int, reason: String)]>([:])

    public init() {}

    /// Database calls under way (PostgreSQL's pool counts them). The watchdog's sign that a
    /// scheduler that does not answer is waiting on the database (each call bounded by the
    /// statement timeout), not stuck.
    private let callsUnderWay = Mutex(0)

    /// Whether a database call is under way now.
    public var isWaitingOnDatabase: Bool { callsUnderWay.withLock { $0 > 0 } }

    func callStarted() { callsUnderWay.withLock { $0 += 1 } }
    func callEnded() { callsUnderWay.withLock { $0 -= 1 } }

    /// The current outage, if any: a database file deleted or replaced under the daemon first
    /// (it lasts until a restart), else a failure that passes.
    public var unavailable: (since: Date, reason: String)? {
        lostFile.withLock { $0 } ?? outage.withLock { $0.map { ($0.since, $0.reason) } }
    }

    /// Set once the database file at the storage's path is no longer the one the daemon writes.
    private let lostFile = Mutex<(since: Date, reason: String)?>(nil)

    /// Reports that the database file was deleted or replaced; logs it (critical) the first time.
    func fileLost(_ reason: String) {
        let first = lostFile.withLock { state in
            guard state == nil else { return false }
            state = (Date(), reason)
            return true
        }
        if first { Self.logger.critical("\(reason)") }
    }

    /// Reports a failure that may pass (``StorageError/isTransient``); returns true (and logs it,
    /// once) when it starts an outage.
    /// `direct`: the failure of a write of its own (a build's creation), not of the
    /// group-commit writer; such an outage ends at the next such write that succeeds
    /// (``directWriteSucceeded()``), even on a daemon that writes nothing else.
    @discardableResult
    func failed(_ error: StorageError, direct: Bool = false) -> Bool {
        guard error.isTransient else { return false }
        // The first line: libpq's messages go on with a paragraph of guesses.
        let reason = String(error.message.prefix { $0 != "\n" })
        let started = outage.withLock { state in
            guard state == nil else { return false }
            state = (Date(), reason, direct)
            return true
        }
        if started { Self.logger.error("storage unavailable: \(reason)") }
        return started
    }

    static let logger = Logger(label: "jobcontrol.storage")

    /// A direct write succeeded: ends an outage one began (one the group-commit writer reported
    /// lasts until that writer's own commit succeeds: a small write fitting is no sign its do).
    func directWriteSucceeded() { end(onlyDirect: true) }

    /// The last outage that ended, for the scheduler's account of what it missed meanwhile.
    private let ended = Mutex<(since: Date, until: Date, reason: String)?>(nil)

    /// Reports a success; returns when the outage it ends had started, if it ends one.
    @discardableResult
    func succeeded() -> Date? { end(onlyDirect: false) }

    @discardableResult
    private func end(onlyDirect: Bool) -> Date? {
        guard
            let finished = outage.withLock({ state -> (since: Date, reason: String, direct: Bool)? in
                guard let current = state, !onlyDirect || current.direct else { return nil }
                state = nil
                return current
            })
        else { return nil }
        ended.withLock { $0 = (finished.since, Date(), finished.reason) }
        Self.logger.notice("storage available again after \(Int(Date().timeIntervalSince(finished.since).rounded())) s")
        return finished.since
    }

    /// The reason of an outage going on, or of the last one if it ended after `usec` (microseconds
    /// since the epoch, as occurrences are kept).
    public func lastOutage(endedAfter usec: Int64) -> String? {
        if let current = unavailable { return current.reason }
        guard let last = ended.withLock({ $0 }), last.until.timeIntervalSince1970 * 1_000_000 > Double(usec) else {
            return nil
        }
        return last.reason
    }

    func dropLogLine(buildID: Int64, reason: String) {
        dropped.withLock { counts in
            counts[buildID, default: (0, reason)].count += 1
        }
    }

    /// How many of the build's log lines were given up on, and why; forgets them.
    public func takeDroppedLogLines(buildID: Int64) -> (count: Int, reason: String)? {
        dropped.withLock { $0.removeValue(forKey: buildID) }
    }
}

extension StorageError {
    /// A failure that goes away by itself or by an administrator's hand without the request
    /// being wrong: the database unreachable, the disk full. Writes that failed so are held and
    /// tried again.
    public var isTransient: Bool { code == .unavailable || code == .full }
}
