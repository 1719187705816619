import Dispatch
import FoundationEssentials
import Glibc
import Synchronization

/// What a state change hands to storage so that the notifications it causes are written in the
/// same transaction (the outbox): the job's rules are decided there, against the job's alert
/// state (``AlertState``), so that two daemons finishing builds of one job at once cannot both
/// send "recovered".
public struct NotificationTrigger: Sendable {
    public enum Cause: Sendable, Hashable {
        /// A build ended (skipped builds cause nothing).
        case build(success: Bool, startedBy: StartKind)
        /// A scheduled occurrence did not run as planned.
        case occurrence(OccurrenceOutcome)
        /// No success since `lastSuccess` (nil: none ever) for longer than `window`.
        case silence(lastSuccess: Date?, window: TimeInterval)
        /// A build has run past its job's `warn_after`.
        case longRunning(startedBy: StartKind)
    }

    public var jobID: String
    public var buildID: Int64?
    public var cause: Cause
    /// The job's rules as configured now (its own, else the daemon's defaults).
    public var rules: [NotifyRule]
    /// The event's facts, which every notification it causes carries (see docs/notifications.md).
    public var facts: [String: JSONValue]
    public var now: Date
    /// How many notifications storage wrote for this trigger (set inside its transaction; read
    /// once the write returned, so the deliverer is woken only when there is something to send).
    public let written = WrittenCount()

    public init(
        jobID: String, buildID: Int64?, cause: Cause, rules: [NotifyRule], facts: [String: JSONValue],
        now: Date = Date()
    ) {
        self.jobID = jobID
        self.buildID = buildID
        self.cause = cause
        self.rules = rules
        self.facts = facts
        self.now = now
    }
}

/// A notification decided, to be written to the outbox.
public struct NotificationDraft: Sendable, Hashable {
    public var channel: String
    public var event: NotificationEvent
    public var jobID: String?
    public var buildID: Int64?
    public var payload: JSONValue

    public init(channel: String, event: NotificationEvent, jobID: String?, buildID: Int64?, payload: JSONValue) {
        self.channel = channel
        self.event = event
        self.jobID = jobID
        self.buildID = buildID
        self.payload = payload
    }
}

/// A count storage raises from its writer thread and the engine reads after the commit.
///
/// Ownership: an `Atomic`; nothing else is shared.
public final class WrittenCount: Sendable {
    private let count = Atomic<Int>(0)

    public init() {}

    public func add(_ value: Int) { count.add(value, ordering: .relaxed) }

    public var value: Int { count.load(ordering: .relaxed) }
}
