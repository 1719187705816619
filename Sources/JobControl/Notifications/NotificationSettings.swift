import Dispatch
import FoundationEssentials
import Glibc

/// `notifications:`: the channels notifications go out through, the rules every job gets by
/// default, and how long the outbox keeps what it delivered.
public struct NotificationSettings: Sendable, Hashable {
    /// Channels by name (`notifications.channels`).
    public var channels: [String: NotificationChannel] = [:]
    /// The rules of a job without `notify:` of its own (`notifications.default`).
    public var defaultRules: [NotifyRule] = []
    /// How long delivered and given-up notifications (and their attempts) are kept
    /// (`notifications.retention`, default 30 days).
    public var retention: TimeInterval = 30 * 86_400
    /// Notifications delivered at once by one daemon (`notifications.concurrency`, default 4).
    public var concurrency = 4

    public init() {}

    /// The rules that apply to `job`: its own, else the defaults.
    public func rules(for job: JobConfig) -> [NotifyRule] {
        job.notify ?? defaultRules
    }
}

/// One way of telling someone (`notifications.channels.NAME`).
public struct NotificationChannel: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case webhook(Webhook)
        /// A local program, with the event in its environment and as JSON on stdin.
        case command(argv: [String], environment: [String: ConfigValue])
        /// A message through `sendmail -t` (what cron's MAILTO uses).
        case email(Email)
        /// Runs other jobs, with the triggering build in their environment.
        case trigger(jobs: [String])
    }

    /// An HTTP(S) POST of the event's JSON body, signed with HMAC-SHA256 when `secret` is set.
    public struct Webhook: Sendable, Hashable {
        /// A string, or `!secret NAME` (a URL with a key in it).
        public var url: ConfigValue
        /// The HMAC key (`!secret NAME`, or a string).
        public var secret: ConfigValue?
        /// Extra request headers (values may be `!secret`: `Authorization: !secret token`).
        public var headers: [String: ConfigValue] = [:]
        /// The body's shape: `jobcontrol` (the documented JSON), `slack` (`{"text": …}`, also
        /// Mattermost and Rocket.Chat), `discord` (`{"content": …}`).
        public var format: WebhookFormat = .jobcontrol
        /// PEM certificates to verify an HTTPS receiver with instead of the system's (a
        /// receiver behind an internal CA).
        public var caFile: String?
    }

    public enum WebhookFormat: String, Sendable, Hashable, CaseIterable {
        case jobcontrol, slack, discord
    }

    public struct Email: Sendable, Hashable {
        public var to: [String]
        public var from: String?
        /// The sendmail program (default `sendmail`, searched on PATH, then /usr/sbin/sendmail).
        public var sendmail: String?
    }

    public var name: String
    public var kind: Kind
    /// Attempts in all (first one included) before the notification is given up as failed.
    public var attempts = 5
    /// Wait before the second attempt; doubled each time, at most `maxBackoff`.
    public var backoff: TimeInterval = 10
    public var maxBackoff: TimeInterval = 600
    /// Longest one attempt may take (an HTTP exchange, a command's run).
    public var timeout: TimeInterval = 10
    var location: SourceLocation?

    public init(name: String, kind: Kind) {
        self.name = name
        self.kind = kind
    }

    /// The wait before attempt `attempt + 1` after attempt `attempt` (1-based) failed.
    public func delay(afterAttempt attempt: Int) -> TimeInterval {
        min(maxBackoff, backoff * pow(2, Double(max(0, attempt - 1))))
    }

    /// Every `!secret` name the channel uses.
    var secretReferences: [String] {
        switch kind {
        case .webhook(let webhook):
            return ([webhook.url] + (webhook.secret.map { [$0] } ?? []) + webhook.headers.values).flatMap(
                \.secretReferences)
        case .command(_, let environment): return environment.values.flatMap(\.secretReferences)
        case .email, .trigger: return []
        }
    }

    public var kindName: String {
        switch kind {
        case .webhook: "webhook"
        case .command: "command"
        case .email: "email"
        case .trigger: "trigger"
        }
    }
}

/// How a build was started, for rules that care (`started_by:`).
public enum StartKind: String, Sendable, Hashable, CaseIterable {
    /// By its schedule.
    case schedule
    /// By `jobctl run` (or the API), for itself.
    case manual
    /// As a dependency of another build (`jobctl run --build-deps`).
    case dependency
    /// By a trigger channel (another build's notification).
    case trigger

    /// How the build with this config was started (its `build.trigger`).
    public static func of(buildConfig config: JSONValue) -> StartKind {
        switch config["build"]?["trigger"]?["kind"]?.stringValue {
        case "schedule": .schedule
        case "dependency": .dependency
        case "notification": .trigger
        default: .manual
        }
    }
}

/// One entry of a job's `notify:` (or of `notifications.default`): which events go to which
/// channel, and how often.
public struct NotifyRule: Sendable, Hashable {
    public var channel: String
    public var events: Set<NotificationEvent> = NotificationEvent.attention
    /// Only builds started this way (nil: any). Occurrence and silence events are always sent.
    public var startedBy: Set<StartKind>?
    /// `failed` is sent at this many consecutive failures (default 1: the first).
    public var afterFailures = 1
    /// `still_failing`, `missed` and `skipped` at most once per this interval per job and
    /// channel (default 1 h); 0: every time.
    public var repeatInterval: TimeInterval = 3600
    var location: SourceLocation?

    public init(channel: String) {
        self.channel = channel
    }
}
