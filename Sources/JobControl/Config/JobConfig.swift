import Dispatch
import FoundationEssentials
import Glibc

/// One job as loaded from configuration: what to run and what it depends on.
///
/// `command` is shorthand for a built-in function: a string runs through `/bin/sh -c`
/// (`jobcontrol:shell`), a list is an argv (`jobcontrol:exec`). Either way the job's `args` are
/// appended (strings verbatim, other values as JSON text).
public struct JobConfig: Sendable, Hashable {
    public var id: String
    public var title: String?
    /// reStructuredText shown by interfaces.
    public var notes: String?
    /// `module:function`, resolved through the ``FunctionRegistry``.
    public var function: String
    public var args: [ConfigValue]
    public var kwargs: [String: ConfigValue]
    public var dependencies: [String]
    /// Added to a command's environment; values are strings, `!secret` or `!param` references.
    public var environment: [String: ConfigValue] = [:]
    /// What a run may (or must) give (`parameters:`), in the order declared.
    public var parameters: [JobParameter] = []
    public var workingDirectory: String?
    /// Run commands as this user (and group); needs a root daemon.
    public var user: String?
    public var group: String?
    /// Free-form labels shown by interfaces.
    public var tags: [String] = []
    /// A disabled job keeps its history but cannot be run.
    public var enabled = true
    /// A protected job runs only when asked with `force` (`jobctl run --force`).
    public var protected = false
    /// Seconds after which a build is stopped and fails with `Timeout`.
    public var timeout: TimeInterval?
    /// `module:function` called with a build's record when the build is deleted.
    public var cleanupFunction: String?
    /// Set when `function` is a Python function (not registered in Swift): how it runs.
    public var python: PythonSettings?
    /// The same for a Python `cleanup_function`.
    public var cleanupPython: PythonSettings?
    /// `python:` and `python_path:` as written (over the daemon's), and where, until resolved.
    var pythonSetting: PythonSetting?
    var pythonPathSetting: [String]?
    var pythonPathLocation: SourceLocation?
    var functionLocation: SourceLocation?
    /// Re-running a failed build (as further attempts of the same build).
    public var retry: RetryPolicy?
    /// The named pool (`pools:`) whose limit this job's builds count against.
    public var pool: String?
    /// This job's build history limit, overriding the daemon's `build_retention`.
    public var buildRetention: BuildRetention?
    /// When the job runs by itself (`schedule:` and its policies); nil = only on demand.
    public var schedule: SchedulePolicy?
    /// Limits, leftovers and the log cap: the job's keys over the daemon's `job_defaults`.
    public var resources = BuildResources()
    /// Who is told about this job's builds and occurrences (`notify:`); nil: the daemon's
    /// `notifications.default`, `[]`: nobody.
    public var notify: [NotifyRule]?
    /// A `silence` notification when no build of the job succeeded for this long
    /// (`expect_success_within`): a dead man's switch that fires even when nothing ran.
    public var expectSuccessWithin: TimeInterval?
    /// A `long_running` notification when a build runs longer than this (`warn_after`).
    public var warnAfter: TimeInterval?
    var notifyLocation: SourceLocation?
    /// Where each resource key was written, for the check that the host can enforce it.
    var resourceNodes: [String: SourceLocation] = [:]
    /// Where `pool:` was written, for the error when the pool does not exist.
    var poolNode: SourceLocation?
    /// Where the job was defined, for error messages.
    public var location: SourceLocation?

    public init(
        id: String,
        title: String? = nil,
        notes: String? = nil,
        function: String,
        args: [ConfigValue] = [],
        kwargs: [String: ConfigValue] = [:],
        dependencies: [String] = [],
        location: SourceLocation? = nil
    ) {
        self.id = id
        self.title = title
        self.notes = notes
        self.function = function
        self.args = args
        self.kwargs = kwargs
        self.dependencies = dependencies
        self.location = location
    }

    /// The copy stored with every build (the seed's Build.config): references kept, secrets never
    /// resolved.
    public var storedJSON: JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(id),
            "function": .string(function),
            "args": .array(args.map(\.storedJSON)),
            "kwargs": .object(kwargs.mapValues(\.storedJSON)),
            "dependencies": .array(dependencies.map { .string($0) }),
        ]
        if let title { object["title"] = .string(title) }
        if let notes { object["notes"] = .string(notes) }
        if !environment.isEmpty { object["environment"] = .object(environment.mapValues(\.storedJSON)) }
        if !parameters.isEmpty { object["parameters"] = .array(parameters.map(\.json)) }
        if let workingDirectory { object["working_directory"] = .string(workingDirectory) }
        if let user { object["user"] = .string(user) }
        if let group { object["group"] = .string(group) }
        if !tags.isEmpty { object["tags"] = .array(tags.map { .string($0) }) }
        if !enabled { object["enabled"] = false }
        if protected { object["protected"] = true }
        if let timeout { object["timeout"] = .double(timeout) }
        if let pool { object["pool"] = .string(pool) }
        if let cleanupFunction { object["cleanup_function"] = .string(cleanupFunction) }
        if let schedule, case .object(let keys) = schedule.json { object.merge(keys) { _, new in new } }
        if let given = schedule?.scheduleParameters, given.contains(where: { !$0.isEmpty }) {
            object["schedule_parameters"] = .array(given.map { .object(maskedParameterValues($0)) })
        }
        if let retry {
            object["retries"] = [
                "count": .int(Int64(retry.count)), "backoff": .double(retry.backoff),
                "max_backoff": .double(retry.maxBackoff),
            ]
        }
        return .object(object)
    }

    /// Every `!secret` name the job uses (args, kwargs, environment, parameters' defaults and
    /// the values its schedules give).
    public var secretReferences: [String] {
        var values =
            args + kwargs.keys.sorted().map { kwargs[$0]! } + environment.keys.sorted().map { environment[$0]! }
        values += parameters.compactMap(\.defaultValue)
        for given in schedule?.scheduleParameters ?? [] { values += given.keys.sorted().map { given[$0]! } }
        return values.flatMap(\.secretReferences)
    }

    /// Parameter values as stored and shown: a secret parameter's value as its `!secret`
    /// reference, or `***`.
    public func maskedParameterValues(_ values: [String: ConfigValue]) -> [String: JSONValue] {
        var masked: [String: JSONValue] = [:]
        for (name, value) in values {
            let secret = parameters.first { $0.name == name }?.secret ?? false
            masked[name] = secret ? JobParameter.masked(value) : value.storedJSON
        }
        return masked
    }

    /// Every `!param` name the job uses (args, kwargs, environment).
    public var paramReferences: [String] {
        let values =
            args + kwargs.keys.sorted().map { kwargs[$0]! } + environment.keys.sorted().map { environment[$0]! }
        return values.flatMap(\.paramReferences)
    }
}

/// `retries: 3` or `retries: {count: 3, backoff: 10s, max_backoff: 10m}`: a failed attempt
/// (a timed-out one included: `timeout` applies to each attempt) is retried up to `count` times
/// within the same build, waiting `backoff`, then twice that, and so on, at most `maxBackoff`.
/// A cancelled build is not retried.
public struct RetryPolicy: Sendable, Hashable {
    public var count: Int
    public var backoff: TimeInterval
    public var maxBackoff: TimeInterval

    public init(count: Int, backoff: TimeInterval = 10, maxBackoff: TimeInterval = 600) {
        self.count = count
        self.backoff = backoff
        self.maxBackoff = maxBackoff
    }

    /// Seconds to wait after failed attempt `attempt` (1-based).
    public func delay(afterAttempt attempt: Int) -> TimeInterval {
        min(maxBackoff, backoff * pow(2, Double(max(0, attempt - 1))))
    }
}

/// `python:` as a job wrote it, and where.
struct PythonSetting: Sendable, Hashable {
    var value: String
    var location: SourceLocation
}
