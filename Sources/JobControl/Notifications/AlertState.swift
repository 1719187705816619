import Dispatch
import FoundationEssentials
import Glibc

/// What the notification rules remember about one job, between its builds: the run of failures,
/// and when each rate-limited event last went to each channel. One row per job (`notify_state`),
/// read and written in the transaction of the state change that consults it.
public struct AlertState: Sendable, Hashable {
    /// Consecutive failed builds up to now (0 after a success).
    public var failures = 0
    /// When the row was made: the start of the silence window of a job that never succeeded.
    public var since: Double
    /// `event/channel` → when that event last went to that channel (seconds since the epoch).
    public var marks: [String: Double] = [:]
    /// The run of failures as a rule with `started_by` sees it (only the builds it hears of),
    /// by ``runKey(_:)``.
    public var runs: [String: Int] = [:]

    public init(since: Date) {
        self.since = since.timeIntervalSince1970
    }

    init?(json: JSONValue) {
        guard let since = json["since"]?.doubleValue else { return nil }
        self.since = since
        failures = Int(json["failures"]?.intValue ?? 0)
        if case .object(let object)? = json["marks"] {
            for (key, value) in object { if let time = value.doubleValue { marks[key] = time } }
        }
        if case .object(let object)? = json["runs"] {
            for (key, value) in object { if let count = value.intValue { runs[key] = Int(count) } }
        }
    }

    var json: JSONValue {
        var object: [String: JSONValue] = [
            "failures": .int(Int64(failures)), "since": .double(since),
            "marks": .object(marks.mapValues { .double($0) }),
        ]
        if !runs.isEmpty { object["runs"] = .object(runs.mapValues { .int(Int64($0)) }) }
        return .object(object)
    }

    static func key(_ event: NotificationEvent, _ channel: String) -> String { "\(event.rawValue)/\(channel)" }

    /// A filtered rule's own run of failures: its channel and the starts it hears of.
    static func runKey(_ rule: NotifyRule) -> String? {
        rule.startedBy.map { "\(rule.channel)/" + $0.map(\.rawValue).sorted().joined(separator: ",") }
    }
}

/// The notification rules, decided: which events a trigger causes for which channels, given the
/// job's alert state. Pure: storage calls it inside its transaction.
public enum NotificationPolicy {
    public static func decide(_ trigger: NotificationTrigger, state: AlertState) -> (AlertState, [NotificationDraft]) {
        var state = state
        var drafts: [NotificationDraft] = []
        let now = trigger.now.timeIntervalSince1970
        func send(_ event: NotificationEvent, _ rule: NotifyRule) {
            var payload = trigger.facts
            payload["event"] = .string(event.rawValue)
            payload["channel"] = .string(rule.channel)
            payload["consecutive_failures"] = .int(Int64(state.failures))
            drafts.append(
                NotificationDraft(
                    channel: rule.channel, event: event, jobID: trigger.jobID, buildID: trigger.buildID,
                    payload: .object(payload)))
        }
        /// True (and remembered) when `event` may go to the rule's channel again now.
        func due(_ event: NotificationEvent, _ rule: NotifyRule) -> Bool {
            let key = AlertState.key(event, rule.channel)
            // `repeat: always` is every time, also for builds of one job that end out of order.
            if rule.repeatInterval > 0, let last = state.marks[key],
                rule.repeatInterval.isInfinite || now - last < rule.repeatInterval
            {
                return false
            }
            state.marks[key] = max(now, state.marks[key] ?? now)
            return true
        }
        switch trigger.cause {
        case .build(let success, let startedBy):
            let previous = state.failures
            state.failures = success ? 0 : previous + 1
            for rule in trigger.rules where rule.startedBy?.contains(startedBy) ?? true {
                // A rule with `started_by` counts only the builds it hears of: a manual failure
                // does not make a scheduled one its "still failing".
                let key = AlertState.runKey(rule)
                let before = key.map { state.runs[$0] ?? 0 } ?? previous
                let after = success ? 0 : before + 1
                if let key { state.runs[key] = after }
                if success {
                    state.marks.removeValue(forKey: AlertState.key(.stillFailing, rule.channel))
                    if rule.events.contains(.recovered), before >= rule.afterFailures {
                        send(.recovered, rule)
                    } else if rule.events.contains(.succeeded) {
                        send(.succeeded, rule)
                    }
                } else if after == rule.afterFailures, rule.events.contains(.failed) {
                    // The run's first notice starts the repeat interval of `still_failing`.
                    state.marks[AlertState.key(.stillFailing, rule.channel)] = now
                    send(.failed, rule)
                } else if after > rule.afterFailures, rule.events.contains(.stillFailing), due(.stillFailing, rule) {
                    send(.stillFailing, rule)
                }
            }
        case .occurrence(let outcome):
            let event: NotificationEvent = outcome == .skipped ? .skipped : .missed
            for rule in trigger.rules where rule.events.contains(event) && due(event, rule) { send(event, rule) }
        case .silence(let lastSuccess, let window):
            let start = max(lastSuccess?.timeIntervalSince1970 ?? 0, state.since)
            guard now >= start + window else { break }
            for rule in trigger.rules where rule.events.contains(.silence) {
                let key = AlertState.key(.silence, rule.channel)
                // Once per silent window: again only after another whole window of silence.
                if let last = state.marks[key], last >= start + window, now - last < window { continue }
                state.marks[key] = now
                send(.silence, rule)
            }
        case .longRunning(let startedBy):
            for rule in trigger.rules
            where rule.events.contains(.longRunning) && (rule.startedBy?.contains(startedBy) ?? true) {
                send(.longRunning, rule)
            }
        }
        return (state, drafts)
    }
}
