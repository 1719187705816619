import Dispatch
import FoundationEssentials
import Glibc

/// What the scheduler tells the notification rules: occurrences that did not run (missed,
/// skipped, failed to start), recorded with their notifications in one transaction.
extension Scheduler {
    /// What an occurrence that did not run tells the job's rules (nil: nobody listens, or it ran).
    func occurrenceTrigger(_ jobID: String, due: Int64, outcome: OccurrenceOutcome, detail: String?)
        -> NotificationTrigger?
    {
        guard [.missed, .skipped, .failed].contains(outcome), let rules = jobs[jobID]?.rules, !rules.isEmpty else {
            return nil
        }
        var facts: [String: JSONValue] = [
            "job": .string(jobID), "occurrence": .string(ScheduleTime.iso8601(due, zone: .utc)),
            "outcome": .string(outcome.rawValue), "started_by": "schedule",
        ]
        if let detail { facts["reason"] = .string(detail) }
        if let node = nodeName { facts["node"] = .string(node) }
        return NotificationTrigger(
            jobID: jobID, buildID: nil, cause: .occurrence(outcome), rules: rules, facts: facts)
    }
}
