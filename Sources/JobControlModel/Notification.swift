import FoundationEssentials

/// What a notification is about.
public enum NotificationEvent: String, Sendable, Hashable, CaseIterable, Codable {
    /// A build failed, and it is the first failure of a run of them (or the `after_failures`-th).
    case failed
    /// A build succeeded (every successful build; skipped ones excepted).
    case succeeded
    /// The first successful build after failures that were notified.
    case recovered
    /// A later failure in a run of failures, at most once per `repeat` interval.
    case stillFailing = "still_failing"
    /// A scheduled occurrence did not run (start deadline, daemon down, clock jump, storage).
    case missed
    /// A scheduled occurrence was skipped (concurrency policy, queue full) or could not start.
    case skipped
    /// No successful build within `expect_success_within` (a dead man's switch).
    case silence
    /// A build has been running longer than its job's `warn_after`.
    case longRunning = "long_running"
    /// Sent by `jobctl notify test CHANNEL`.
    case test

    /// The events a rule gets when it names none: everything that needs attention.
    public static let attention: Set<NotificationEvent> = [
        .failed, .stillFailing, .recovered, .missed, .skipped, .silence, .longRunning,
    ]
}

/// Where a notification is in its delivery.
public enum NotificationState: String, Sendable, Hashable, CaseIterable, Codable {
    /// Waiting for its (next) attempt.
    case pending
    /// An attempt is under way (by the node in ``NotificationRecord/node``).
    case sending
    /// An attempt succeeded.
    case delivered
    /// Every attempt failed; `jobctl notify resend` tries again.
    case failed
}

/// One notification: an event for one channel, from the outbox.
public struct NotificationRecord: Sendable, Hashable {
    public var id: Int64
    public var channel: String
    public var event: NotificationEvent
    public var jobID: String?
    public var buildID: Int64?
    public var state: NotificationState
    /// Attempts made so far.
    public var attempts: Int
    public var created: Date
    /// When the next attempt is due (pending), or the claim ends (sending).
    public var nextAttempt: Date?
    public var delivered: Date?
    /// The node that made (or makes) the latest attempt.
    public var node: String?
    /// The event's facts (what the channel's message is made of).
    public var payload: JSONValue
    /// Why the latest attempt failed.
    public var lastError: String?

    public init(
        id: Int64, channel: String, event: NotificationEvent, jobID: String?, buildID: Int64?,
        state: NotificationState, attempts: Int, created: Date, nextAttempt: Date? = nil, delivered: Date? = nil,
        node: String? = nil, payload: JSONValue = .object([:]), lastError: String? = nil
    ) {
        self.id = id
        self.channel = channel
        self.event = event
        self.jobID = jobID
        self.buildID = buildID
        self.state = state
        self.attempts = attempts
        self.created = created
        self.nextAttempt = nextAttempt
        self.delivered = delivered
        self.node = node
        self.payload = payload
        self.lastError = lastError
    }

    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "id": .int(id), "channel": .string(channel), "event": .string(event.rawValue),
            "state": .string(state.rawValue), "attempts": .int(Int64(attempts)), "created": Timestamps.json(created),
            "payload": payload,
        ]
        if let jobID { object["job_id"] = .string(jobID) }
        if let buildID { object["build_id"] = .int(buildID) }
        if let nextAttempt { object["next_attempt"] = Timestamps.json(nextAttempt) }
        if let delivered { object["delivered"] = Timestamps.json(delivered) }
        if let node { object["node"] = .string(node) }
        if let lastError { object["last_error"] = .string(lastError) }
        return .object(object)
    }

    public init?(json: JSONValue) {
        guard let id = json["id"]?.intValue, let channel = json["channel"]?.stringValue,
            let event = json["event"]?.stringValue.flatMap(NotificationEvent.init(rawValue:)),
            let state = json["state"]?.stringValue.flatMap(NotificationState.init(rawValue:))
        else { return nil }
        self.init(
            id: id, channel: channel, event: event, jobID: json["job_id"]?.stringValue,
            buildID: json["build_id"]?.intValue, state: state, attempts: Int(json["attempts"]?.intValue ?? 0),
            created: Timestamps.date(json["created"]) ?? Date(timeIntervalSince1970: 0),
            nextAttempt: Timestamps.date(json["next_attempt"]), delivered: Timestamps.date(json["delivered"]),
            node: json["node"]?.stringValue, payload: json["payload"] ?? .object([:]),
            lastError: json["last_error"]?.stringValue)
    }
}

/// One attempt to deliver a notification.
public struct NotificationAttempt: Sendable, Hashable {
    public enum Outcome: String, Sendable, Hashable, Codable {
        /// Still under way (or its daemon died and nobody has looked yet).
        case running
        case delivered
        case failed
        /// The daemon stopped or died during the attempt: whether the receiver got it is unknown
        /// (a webhook receiver can tell by the delivery id, which stays the same).
        case interrupted
    }

    public var notificationID: Int64
    /// 1 for the first attempt.
    public var number: Int
    public var node: String
    public var started: Date
    public var ended: Date?
    public var outcome: Outcome
    /// What happened: `HTTP 500: …`, `exit status 1: …`, `timed out after 10 s`, `build 42 created`.
    public var detail: String?

    public init(
        notificationID: Int64, number: Int, node: String, started: Date, ended: Date? = nil,
        outcome: Outcome = .running, detail: String? = nil
    ) {
        self.notificationID = notificationID
        self.number = number
        self.node = node
        self.started = started
        self.ended = ended
        self.outcome = outcome
        self.detail = detail
    }

    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "number": .int(Int64(number)), "node": .string(node), "started": Timestamps.json(started),
            "outcome": .string(outcome.rawValue),
        ]
        if let ended { object["ended"] = Timestamps.json(ended) }
        if let detail { object["detail"] = .string(detail) }
        return .object(object)
    }

    public init?(json: JSONValue, notificationID: Int64) {
        guard let number = json["number"]?.intValue,
            let outcome = json["outcome"]?.stringValue.flatMap(Outcome.init(rawValue:))
        else { return nil }
        self.init(
            notificationID: notificationID, number: Int(number), node: json["node"]?.stringValue ?? "",
            started: Timestamps.date(json["started"]) ?? Date(timeIntervalSince1970: 0),
            ended: Timestamps.date(json["ended"]), outcome: outcome, detail: json["detail"]?.stringValue)
    }
}
