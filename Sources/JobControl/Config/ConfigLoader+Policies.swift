import Dispatch
import FoundationEssentials
import Glibc

extension ConfigLoader {
    static let logRetentionKeys = ["debug", "info", "warning", "error", "critical", "any"]
    static let buildRetentionKeys = ["keep_last", "max_age"]

    /// A duration (`15m`, `2h`, `30d`, or seconds); `never` when `allowNever`, returned as nil.
    static func readDuration(_ node: Node, reader: inout YAMLNodeReader, what: String, allowNever: Bool = false)
        -> TimeInterval??
    {
        if YAMLNodeReader.isCustomTag(node) {
            reader.error(
                node,
                "\(what) must be \(DurationParser.expected)\(allowNever ? ", or never" : ""), found \(YAMLNodeReader.typeName(node))"
            )
            return nil
        }
        if case .scalar(let scalar) = node, allowNever, ["never", "forever"].contains(scalar.string) {
            return .some(nil)
        }
        if case .scalar = node, let seconds = node.int, seconds >= 0, Double(seconds) <= DurationParser.maximum {
            return .some(TimeInterval(seconds))
        }
        guard case .scalar(let scalar) = node, let seconds = DurationParser.seconds(scalar.string) else {
            reader.error(node, "\(what) must be \(DurationParser.expected)\(allowNever ? ", or never" : "")")
            return nil
        }
        return .some(seconds)
    }

    /// `log_retention: {debug: 15d, info: 30d, …, any: 365d}`; unset levels keep the default.
    static func readLogRetention(_ node: Node, reader: inout YAMLNodeReader) -> LogRetention? {
        guard let entries = reader.mapping(node, what: "'log_retention'") else { return nil }
        var retention = LogRetention.default
        for entry in entries {
            let what = "'log_retention.\(entry.key)'"
            guard logRetentionKeys.contains(entry.key) else {
                reader.unknownKey(entry.key, entry.keyNode, in: "'log_retention'", known: logRetentionKeys)
                continue
            }
            guard let age = readDuration(entry.value, reader: &reader, what: what, allowNever: true) else { continue }
            if entry.key == "any" {
                retention.anyLevel = age
            } else if let level = LogLevel(parsing: entry.key) {
                retention.maxAgeByLevel[level] = .some(age)
            }
        }
        return retention
    }

    /// `build_retention: {keep_last: 100, max_age: 90d}`.
    static func readBuildRetention(_ node: Node, reader: inout YAMLNodeReader, what: String) -> BuildRetention? {
        guard let entries = reader.mapping(node, what: what) else { return nil }
        var retention = BuildRetention()
        for entry in entries {
            switch entry.key {
            case "keep_last":
                if let value = reader.int(entry.value, what: "'keep_last'") {
                    if value < 1 {
                        reader.error(entry.value, "'keep_last' must be at least 1")
                    } else {
                        retention.keepLast = value
                    }
                }
            case "max_age":
                if let age = readDuration(entry.value, reader: &reader, what: "'max_age'") { retention.maxAge = age }
            default:
                reader.unknownKey(entry.key, entry.keyNode, in: what, known: buildRetentionKeys)
            }
        }
        return retention
    }
}

extension ConfigLoader {
    /// `pools: {name: {workers: N}}`.
    static func readPools(_ node: Node, reader: inout YAMLNodeReader) -> [String: Int] {
        guard let entries = reader.mapping(node, what: "'pools'") else { return [:] }
        var pools: [String: Int] = [:]
        for entry in entries {
            // Jobs name their pool: an empty or blank name is a mistake (a template's missing value).
            guard !entry.key.trimmingBlanks().isEmpty else {
                reader.error(entry.keyNode, "a pool needs a name, as in 'pools: {db: {workers: 1}}'")
                continue
            }
            guard let settings = reader.mapping(entry.value, what: "pool '\(entry.key)'") else { continue }
            var workers: Int?
            for setting in settings {
                if setting.key == "workers" {
                    if let value = reader.int(setting.value, what: "'workers' of pool '\(entry.key)'") {
                        if value < 1 {
                            reader.error(setting.value, "'workers' of pool '\(entry.key)' must be at least 1")
                        } else {
                            workers = value
                        }
                    }
                } else {
                    reader.unknownKey(setting.key, setting.keyNode, in: "pool '\(entry.key)'", known: ["workers"])
                }
            }
            if let workers {
                pools[entry.key] = workers
            } else if !settings.contains(where: { $0.key == "workers" }) {
                reader.error(entry.value, "pool '\(entry.key)' needs 'workers', its limit on builds running at once")
            }
        }
        return pools
    }
}

extension ConfigLoader {
    /// `retries: 3` or `retries: {count: 3, backoff: 10s, max_backoff: 10m}`.
    static func readRetries(_ node: Node, reader: inout YAMLNodeReader) -> RetryPolicy? {
        if case .scalar = node {
            guard let count = reader.int(node, what: "'retries'") else { return nil }
            guard count >= 0 else {
                reader.error(node, "'retries' must be 0 or more")
                return nil
            }
            return RetryPolicy(count: count)
        }
        guard let entries = reader.mapping(node, what: "'retries'") else { return nil }
        var policy = RetryPolicy(count: 0)
        for entry in entries {
            switch entry.key {
            case "count":
                if let count = reader.int(entry.value, what: "'retries.count'") {
                    if count < 0 {
                        reader.error(entry.value, "'retries.count' must be 0 or more")
                    } else {
                        policy.count = count
                    }
                }
            case "backoff":
                if let seconds = readDuration(entry.value, reader: &reader, what: "'retries.backoff'"), let seconds {
                    policy.backoff = seconds
                }
            case "max_backoff":
                if let seconds = readDuration(entry.value, reader: &reader, what: "'retries.max_backoff'"), let seconds
                {
                    policy.maxBackoff = seconds
                }
            default:
                reader.unknownKey(
                    entry.key, entry.keyNode, in: "'retries'", known: ["count", "backoff", "max_backoff"])
            }
        }
        return policy
    }
}
