import Dispatch
import FoundationEssentials
import Glibc

/// `notifications:` (channels, default rules, retention) and a job's `notify:`.
extension ConfigLoader {
    static let notificationKeys = ["channels", "default", "retention", "concurrency"]
    static let channelKinds = ["webhook", "command", "email", "trigger"]
    static let channelKeys =
        channelKinds + [
            "ca_file", "secret", "headers", "format", "environment", "from", "sendmail", "timeout", "attempts",
            "backoff",
            "max_backoff",
        ]
    static let ruleKeys = ["channel", "events", "started_by", "after_failures", "repeat"]

    static func readNotifications(_ node: Node, reader: inout YAMLNodeReader) -> NotificationSettings {
        var settings = NotificationSettings()
        guard let entries = reader.mapping(node, what: "'notifications'") else { return settings }
        for entry in entries {
            let what = "'notifications.\(entry.key)'"
            switch entry.key {
            case "channels":
                guard let channels = reader.mapping(entry.value, what: what) else { continue }
                for channel in channels {
                    guard isValidJobID(channel.key) else {
                        reader.error(
                            channel.keyNode,
                            "channel name '\(channel.key)' may contain only letters, digits, '_', '-' and '.', must not be only dots, and must not start with '-'"
                        )
                        continue
                    }
                    if let value = readChannel(channel.key, channel.value, reader: &reader) {
                        settings.channels[channel.key] = value
                    }
                }
            case "default":
                settings.defaultRules = readNotifyRules(entry.value, reader: &reader, what: what) ?? []
            case "retention":
                if let seconds = readDuration(entry.value, reader: &reader, what: what), let seconds {
                    settings.retention = seconds
                }
            case "concurrency":
                if let value = reader.int(entry.value, what: what) {
                    if (1...64).contains(value) {
                        settings.concurrency = value
                    } else {
                        reader.error(entry.value, "\(what) must be between 1 and 64")
                    }
                }
            default:
                reader.unknownKey(entry.key, entry.keyNode, in: "'notifications'", known: notificationKeys)
            }
        }
        return settings
    }

    static func readChannel(_ name: String, _ node: Node, reader: inout YAMLNodeReader) -> NotificationChannel? {
        guard let entries = reader.mapping(node, what: "channel '\(name)'") else { return nil }
        let before = reader.diagnostics.count
        let kinds = entries.filter { channelKinds.contains($0.key) }
        guard kinds.count == 1, let kindEntry = kinds.first else {
            reader.error(
                kinds.dropFirst().first?.keyNode ?? node,
                "channel '\(name)' needs exactly one of \(channelKinds.joined(separator: ", "))"
                    + (kinds.isEmpty ? "" : " (found \(kinds.map(\.key).joined(separator: " and ")))"))
            return nil
        }
        var webhook = NotificationChannel.Webhook(url: .string(""))
        var environment: [String: ConfigValue] = [:]
        var email = NotificationChannel.Email(to: [])
        var channel = NotificationChannel(name: name, kind: .trigger(jobs: []))
        channel.location = reader.location(node)
        var argv: [String] = []
        var triggered: [String] = []
        for entry in entries {
            let what = "'\(entry.key)' of channel '\(name)'"
            let applies: [String: String] = [
                "secret": "webhook", "headers": "webhook", "format": "webhook", "ca_file": "webhook",
                "environment": "command",
                "from": "email", "sendmail": "email",
            ]
            if let kind = applies[entry.key], kind != kindEntry.key {
                reader.error(entry.keyNode, "\(what) applies to \(kind) channels only; this one is a \(kindEntry.key)")
                continue
            }
            switch entry.key {
            case "webhook":
                switch reader.value(entry.value, what: what) {
                case .string(let url)?:
                    if let problem = webhookURLProblem(url) {
                        reader.error(entry.value, "\(what): \(problem)")
                    } else {
                        webhook.url = .string(url)
                    }
                case .secret(let secret)?: webhook.url = .secret(secret)
                case nil: break
                default: reader.error(entry.value, "\(what) must be a URL (http:// or https://) or !secret NAME")
                }
            case "secret":
                switch reader.value(entry.value, what: what) {
                case .string(let key)?: webhook.secret = .string(key)
                case .secret(let secret)?: webhook.secret = .secret(secret)
                case nil: break
                default: reader.error(entry.value, "\(what) must be a string or !secret NAME")
                }
            case "headers":
                guard let headers = reader.mapping(entry.value, what: what) else { continue }
                for header in headers {
                    let valid =
                        !header.key.isEmpty
                        && header.key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
                    guard valid else {
                        reader.error(header.keyNode, "header name '\(header.key)' must be letters, digits and '-'")
                        continue
                    }
                    switch reader.value(header.value, what: "header \(header.key)") {
                    case .string(let value)? where !value.contains(where: { $0 == "\n" || $0 == "\r" }):
                        webhook.headers[header.key] = .string(value)
                    case .secret(let secret)?: webhook.headers[header.key] = .secret(secret)
                    case nil: break
                    default: reader.error(header.value, "header \(header.key) must be one line of text or !secret NAME")
                    }
                }
            case "ca_file":
                guard let path = reader.string(entry.value, what: what) else { continue }
                if !path.hasPrefix("/") {
                    reader.error(entry.value, "\(what) must be an absolute path")
                } else if access(path, R_OK) != 0 {
                    reader.error(entry.value, "\(what): cannot read \(path): \(String(cString: strerror(errno)))")
                } else {
                    webhook.caFile = path
                }
            case "format":
                guard let value = reader.string(entry.value, what: what) else { continue }
                if let format = NotificationChannel.WebhookFormat(rawValue: value) {
                    webhook.format = format
                } else {
                    reader.error(
                        entry.value,
                        "\(what) must be one of \(NotificationChannel.WebhookFormat.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
            case "command":
                switch entry.value {
                case .scalar:
                    if let script = reader.string(entry.value, what: what) { argv = ["/bin/sh", "-c", script] }
                default:
                    if let values = reader.stringList(entry.value, what: what) {
                        if values.isEmpty {
                            reader.error(entry.value, "\(what) must not be empty")
                        } else {
                            argv = values
                        }
                    }
                }
            case "environment":
                environment = readEnvironment(entry.value, reader: &reader)
            case "email":
                let addresses: [String]?
                if case .sequence = entry.value {
                    addresses = reader.stringList(entry.value, what: what)
                } else {
                    addresses = reader.string(entry.value, what: what).map {
                        $0.split(separator: ",").map { $0.trimmingBlanks() }
                    }
                }
                guard let addresses else { continue }
                if addresses.isEmpty || addresses.contains(where: { !isPlausibleAddress($0) }) {
                    reader.error(entry.value, "\(what) must be one or more addresses such as ops@example.com")
                } else {
                    email.to = addresses
                }
            case "from":
                if let value = reader.string(entry.value, what: what) {
                    if isPlausibleAddress(value) {
                        email.from = value
                    } else {
                        reader.error(entry.value, "\(what) must be an address such as jobcontrol@example.com")
                    }
                }
            case "sendmail":
                email.sendmail = reader.string(entry.value, what: what)
            case "trigger":
                let jobs: [String]?
                if case .sequence = entry.value {
                    jobs = reader.stringList(entry.value, what: what)
                } else {
                    jobs = reader.string(entry.value, what: what).map { [$0] }
                }
                if let jobs {
                    if jobs.isEmpty { reader.error(entry.value, "\(what) must name at least one job") }
                    triggered = jobs
                }
            case "timeout":
                if let seconds = readDuration(entry.value, reader: &reader, what: what), let seconds {
                    if seconds <= 0 || seconds > 3600 {
                        reader.error(entry.value, "\(what) must be between 1s and 1h")
                    } else {
                        channel.timeout = seconds
                    }
                }
            case "attempts":
                if let value = reader.int(entry.value, what: what) {
                    if (1...100).contains(value) {
                        channel.attempts = value
                    } else {
                        reader.error(entry.value, "\(what) must be between 1 and 100")
                    }
                }
            case "backoff":
                if let seconds = readDuration(entry.value, reader: &reader, what: what), let seconds {
                    channel.backoff = seconds
                }
            case "max_backoff":
                if let seconds = readDuration(entry.value, reader: &reader, what: what), let seconds {
                    channel.maxBackoff = seconds
                }
            default:
                reader.unknownKey(entry.key, entry.keyNode, in: "channel '\(name)'", known: channelKeys)
            }
        }
        switch kindEntry.key {
        case "webhook": channel.kind = .webhook(webhook)
        case "command": channel.kind = .command(argv: argv, environment: environment)
        case "email": channel.kind = .email(email)
        default: channel.kind = .trigger(jobs: triggered)
        }
        return reader.diagnostics.count == before ? channel : nil
    }

    /// Why `url` cannot be a webhook's address, or nil.
    static func webhookURLProblem(_ url: String) -> String? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            ["http", "https"].contains(scheme)
        else { return "'\(url)' is not an http:// or https:// URL" }
        guard let host = components.host, !host.isEmpty else { return "'\(url)' has no host" }
        return nil
    }

    static func isPlausibleAddress(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
            && !text.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" || $0 == "," || $0 == "\n" })
    }

    /// `notify: [channel, {channel: NAME, events: […], started_by: […], after_failures: N,
    /// repeat: 1h}]`.
    static func readNotifyRules(_ node: Node, reader: inout YAMLNodeReader, what: String) -> [NotifyRule]? {
        let items: [Node]
        switch node {
        case .sequence(let sequence): items = Array(sequence)
        case .scalar: items = [node]
        default:
            reader.error(node, "\(what) must be a channel name or a list of channels and rules")
            return nil
        }
        var rules: [NotifyRule] = []
        for item in items {
            if case .scalar = item {
                guard let name = reader.string(item, what: "a channel of \(what)") else { continue }
                var rule = NotifyRule(channel: name)
                rule.location = reader.location(item)
                rules.append(rule)
                continue
            }
            guard let entries = reader.mapping(item, what: "a rule of \(what)") else { continue }
            var rule = NotifyRule(channel: "")
            rule.location = reader.location(item)
            for entry in entries {
                let key = "'\(entry.key)' of a rule of \(what)"
                switch entry.key {
                case "channel":
                    if let name = reader.string(entry.value, what: key) { rule.channel = name }
                    rule.location = reader.location(entry.value)
                case "events":
                    guard let names = reader.stringList(entry.value, what: key) else { continue }
                    var events: Set<NotificationEvent> = []
                    for name in names {
                        if name == "all" {
                            events.formUnion(NotificationEvent.allCases.filter { $0 != .test })
                        } else if let event = NotificationEvent(rawValue: name), event != .test {
                            events.insert(event)
                        } else {
                            let known = NotificationEvent.allCases.filter { $0 != .test }.map(\.rawValue) + ["all"]
                            reader.error(
                                entry.value,
                                "unknown event '\(name)' in \(key); known: \(known.joined(separator: ", "))")
                        }
                    }
                    rule.events = events
                case "started_by":
                    guard let names = reader.stringList(entry.value, what: key) else { continue }
                    var kinds: Set<StartKind> = []
                    for name in names {
                        if let kind = StartKind(rawValue: name) {
                            kinds.insert(kind)
                        } else {
                            reader.error(
                                entry.value,
                                "unknown start '\(name)' in \(key); known: \(StartKind.allCases.map(\.rawValue).joined(separator: ", "))"
                            )
                        }
                    }
                    rule.startedBy = kinds
                case "after_failures":
                    if let value = reader.int(entry.value, what: key) {
                        if value >= 1 {
                            rule.afterFailures = value
                        } else {
                            reader.error(entry.value, "\(key) must be at least 1")
                        }
                    }
                case "repeat":
                    if case .scalar(let scalar) = entry.value, scalar.string == "always" {
                        rule.repeatInterval = 0
                    } else if let seconds = readDuration(entry.value, reader: &reader, what: key, allowNever: true) {
                        rule.repeatInterval = seconds ?? .infinity
                    }
                default:
                    reader.unknownKey(entry.key, entry.keyNode, in: "a rule of \(what)", known: ruleKeys)
                }
            }
            if rule.channel.isEmpty {
                reader.error(item, "a rule of \(what) needs a 'channel'")
                continue
            }
            rules.append(rule)
        }
        return rules
    }

    /// Unknown channels, missing secrets, trigger channels naming unknown jobs, and cycles of
    /// triggers (a job whose notification runs, in the end, itself).
    static func validateNotifications(_ config: DaemonConfig, file: String) -> [ConfigDiagnostic] {
        var diagnostics: [ConfigDiagnostic] = []
        let settings = config.notifications
        let fallback = SourceLocation(file: file, line: 1, column: 1)
        func check(_ rules: [NotifyRule], owner: String) {
            for rule in rules where settings.channels[rule.channel] == nil {
                let known = settings.channels.keys.sorted()
                diagnostics.append(
                    ConfigDiagnostic(
                        rule.location ?? fallback,
                        "\(owner) notifies unknown channel '\(rule.channel)'"
                            + (known.isEmpty
                                ? " (no channel is defined under 'notifications.channels')"
                                : " (defined: \(known.joined(separator: ", ")))")))
            }
        }
        check(settings.defaultRules, owner: "'notifications.default'")
        for job in config.jobs { check(job.notify ?? [], owner: "job '\(job.id)'") }
        for name in settings.channels.keys.sorted() {
            let channel = settings.channels[name]!
            for secret in Set(channel.secretReferences).sorted() where config.secrets[secret] == nil {
                diagnostics.append(
                    ConfigDiagnostic(
                        channel.location ?? fallback,
                        "channel '\(name)' uses '!secret \(secret)' but no secret '\(secret)' is defined under 'secret' or in 'secrets_file'"
                    ))
            }
            if case .webhook(let webhook) = channel.kind, case .secret(let secret) = webhook.url,
                let url = config.secrets[secret], webhookURLProblem(url) != nil
            {
                diagnostics.append(
                    ConfigDiagnostic(
                        channel.location ?? fallback,
                        "channel '\(name)': secret '\(secret)' is not an http:// or https:// URL with a host"))
            }
            if case .trigger(let jobs) = channel.kind {
                for job in jobs where config.job(job) == nil {
                    diagnostics.append(
                        ConfigDiagnostic(
                            channel.location ?? fallback, "channel '\(name)' triggers unknown job '\(job)'"))
                }
            }
        }
        // Trigger edges: a job → the jobs its notifications' trigger channels run.
        var edges: [String: [String]] = [:]
        for job in config.jobs {
            for rule in settings.rules(for: job) {
                if case .trigger(let targets)? = settings.channels[rule.channel]?.kind {
                    edges[job.id, default: []] += targets
                }
            }
        }
        var state: [String: Int] = [:]
        var path: [String] = []
        var reported = false
        func visit(_ id: String) {
            state[id] = 1
            path.append(id)
            for next in edges[id] ?? [] where !reported {
                if state[next] == 1 {
                    let cycle = Array(path[path.lastIndex(of: next)!...]) + [next]
                    diagnostics.append(
                        ConfigDiagnostic(
                            config.job(cycle[0])?.notifyLocation ?? config.job(cycle[0])?.location ?? fallback,
                            "notification trigger cycle: \(cycle.joined(separator: " -> ")) (a trigger channel may not run, in the end, the job that fired it)"
                        ))
                    reported = true
                } else if state[next] == nil {
                    visit(next)
                }
            }
            path.removeLast()
            state[id] = 2
        }
        for job in config.jobs where state[job.id] == nil && !reported { visit(job.id) }
        return diagnostics
    }
}
