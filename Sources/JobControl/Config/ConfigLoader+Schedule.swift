import Dispatch
import FoundationEssentials
import Glibc

/// The scheduling keys of a job, read after its other keys (a schedule's zone comes from
/// `timezone:`, wherever it is written).
extension ConfigLoader {
    static let scheduleKeys = [
        "schedule", "timezone", "persistent", "catch_up", "catch_up_window", "randomized_delay",
        "fixed_random_delay", "concurrency", "start_deadline",
    ]

    static func readSchedulePolicy(
        _ entries: [(key: String, keyNode: Node, value: Node)], parameters: [JobParameter],
        reader: inout YAMLNodeReader
    ) -> SchedulePolicy? {
        let byKey = Dictionary(entries.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        guard byKey.keys.contains(where: scheduleKeys.contains) else { return nil }
        var zone: ZoneRules?
        var zoneName: String?
        if let entry = byKey["timezone"], let name = reader.string(entry.value, what: "'timezone'") {
            if let loaded = ZoneRules.named(name) {
                zone = loaded
                zoneName = name
            } else {
                reader.error(entry.value, ZoneError.unknownZone(name).description)
            }
        }
        guard let scheduleEntry = byKey["schedule"] else {
            let first = entries.first { scheduleKeys.contains($0.key) }!
            reader.error(first.keyNode, "'\(first.key)' needs a 'schedule' in the same job")
            return nil
        }
        let read = readSchedules(scheduleEntry.value, zone: zone, reader: &reader)
        var policy = SchedulePolicy(schedules: read.map(\.schedule))
        if read.contains(where: { !$0.parameters.isEmpty }) { policy.scheduleParameters = read.map(\.parameters) }
        for entry in read where !entry.parameters.isEmpty {
            checkScheduleParameters(entry.parameters, declared: parameters, node: entry.node, reader: &reader)
        }
        // An occurrence has nobody to ask: each schedule gives every required parameter a value.
        let required = parameters.filter(\.required).map(\.name)
        for entry in read {
            let missing = required.filter { entry.parameters[$0] == nil }
            if !missing.isEmpty {
                reader.error(
                    entry.node,
                    "this schedule gives no value for the required parameter\(missing.count == 1 ? "" : "s") \(missing.map { "'\($0)'" }.joined(separator: ", ")); write it as {cron|calendar|every: …, parameters: {\(missing[0]): …}}"
                )
            }
        }
        policy.timezone = zoneName
        for (key, entry) in byKey.sorted(by: { $0.key < $1.key }) {
            let what = "'\(key)'"
            switch key {
            case "persistent":
                if let value = reader.bool(entry.value, what: what) { policy.persistent = value }
            case "catch_up":
                if let value = readChoice(entry.value, SchedulePolicy.CatchUp.self, what: what, reader: &reader) {
                    policy.catchUp = value
                }
            case "catch_up_window":
                if let seconds = readDuration(entry.value, reader: &reader, what: what) {
                    policy.catchUpWindow = seconds
                }
            case "randomized_delay":
                if let seconds = readDuration(entry.value, reader: &reader, what: what) {
                    policy.randomizedDelay = seconds ?? 0
                }
            case "fixed_random_delay":
                if let value = reader.bool(entry.value, what: what) { policy.fixedRandomDelay = value }
            case "concurrency":
                if let value = readChoice(entry.value, SchedulePolicy.Concurrency.self, what: what, reader: &reader) {
                    policy.concurrency = value
                }
            case "start_deadline":
                if let seconds = readDuration(entry.value, reader: &reader, what: what) {
                    if let seconds, seconds > 0 {
                        policy.startDeadline = seconds
                    } else {
                        reader.error(entry.value, "'start_deadline' must be longer than 0s")
                    }
                }
            default:
                break
            }
        }
        if !policy.persistent, let entry = byKey["catch_up"] ?? byKey["catch_up_window"] {
            reader.error(entry.keyNode, "'\(entry.key)' applies only to a job with 'persistent: true'")
        }
        return policy
    }

    /// One schedule as written, with the parameter values it gives (`{cron: …, parameters: {…}}`).
    typealias ScheduleEntry = (schedule: Schedule, parameters: [String: ConfigValue], node: Node)

    /// `schedule:` as a string, `{every: 15m}`, `{calendar: …}`, `{cron: …}` (each optionally with
    /// `parameters: {name: value}` for its builds), or a list of these.
    static func readSchedules(_ node: Node, zone: ZoneRules?, reader: inout YAMLNodeReader) -> [ScheduleEntry] {
        switch node {
        case .sequence(let sequence):
            if sequence.isEmpty { reader.error(node, "'schedule' must not be an empty list") }
            return sequence.flatMap { readSchedules($0, zone: zone, reader: &reader) }
        case .scalar:
            guard let text = reader.string(node, what: "'schedule'") else { return [] }
            do {
                // 'every 15m' as a string too, as `jobctl calendar` and the Calendar call read it.
                let schedule = try Schedule.parse(expression: text, zone: zone)
                if let problem = tooFrequent(schedule) { reader.error(node, problem) }
                return [(schedule, [:], node)]
            } catch {
                reader.error(node, error.description)
                return []
            }
        case .mapping:
            guard let all = reader.mapping(node, what: "a schedule") else { return [] }
            let entries = all.filter { $0.key != "parameters" }
            var parameters: [String: ConfigValue] = [:]
            if let given = all.first(where: { $0.key == "parameters" }) {
                guard case .mapping = given.value,
                    case .object(let values)? = reader.value(given.value, what: "a schedule's 'parameters'")
                else {
                    reader.error(given.value, "a schedule's 'parameters' must be a mapping of name: value")
                    return []
                }
                parameters = values
            }
            guard entries.count == 1, let entry = entries.first else {
                reader.error(
                    node, "a schedule mapping has exactly one of every, calendar or cron (and optionally parameters)")
                return []
            }
            guard let text = reader.string(entry.value, what: "'\(entry.key)'") else { return [] }
            do {
                let schedule: Schedule
                switch entry.key {
                case "every": schedule = try Schedule.interval(text)
                case "calendar": schedule = try Schedule.calendar(text, zone: zone ?? .local())
                case "cron": schedule = try Schedule.cron(text, zone: zone ?? .local())
                default:
                    reader.unknownKey(
                        entry.key, entry.keyNode, in: "a schedule", known: ["every", "calendar", "cron", "parameters"])
                    return []
                }
                if let problem = tooFrequent(schedule) { reader.error(entry.value, problem) }
                return [(schedule, parameters, node)]
            } catch {
                reader.error(entry.value, error.description)
                return []
            }
        }
    }

    /// Why `schedule` cannot drive a job: it elapses more than once within a second (a
    /// sub-second repetition such as `*:*:0/0.000001`). The scheduler's resolution is a second;
    /// such a schedule kept it busy and recorded every elapse it could not start as missed.
    static func tooFrequent(_ schedule: Schedule) -> String? {
        // Intervals are whole seconds and cron counts minutes: only a calendar expression with
        // fractional seconds can (the search below would cost every job's load, a quarter of a
        // 10,000-job check-config).
        guard case .calendar(let spec) = schedule.rule, spec.hasFractionalSeconds else { return nil }
        let elapses = schedule.elapses(after: ScheduleTime.currentMicroseconds(), count: 4)
        guard zip(elapses, elapses.dropFirst()).contains(where: { $1 - $0 < 1_000_000 }) else { return nil }
        return
            "'\(schedule.normalized)' elapses more than once a second; a job runs at most once a second (use whole seconds, such as '*:*:0/5')"
    }

    static func readChoice<Choice: RawRepresentable & CaseIterable>(
        _ node: Node, _ type: Choice.Type, what: String, reader: inout YAMLNodeReader
    ) -> Choice? where Choice.RawValue == String {
        guard let text = reader.string(node, what: what) else { return nil }
        if let choice = Choice(rawValue: text) { return choice }
        reader.error(
            node, "\(what) must be one of \(Choice.allCases.map(\.rawValue).joined(separator: ", ")), found '\(text)'")
        return nil
    }
}
