import Dispatch
import FoundationEssentials
import Glibc
import Logging
import Synchronization

/// What a running build's function gets: who it is, and how to log.
///
/// Every log call is stored before it returns, so a line a function has logged survives a crash of
/// the daemon. Thread-safe: it holds only immutable values and a `Sendable` storage.
public struct BuildContext: Sendable {
    public let buildID: Int64
    public let jobID: String
    /// The control socket, handed to command builds as `JOBCONTROL_SOCKET`.
    public let socketPath: String?
    /// The build's token for the in-build helpers (`JOBCONTROL_TOKEN`); valid while it runs.
    public let token: String?
    /// Environment, working directory and user for command builds.
    public let settings: ExecutionSettings
    /// Masks the job's secret values in everything this build stores.
    public let redactor: SecretRedactor
    let storage: any Storage
    /// Sees every log record of the build as it is stored (the daemon sends them to the journal).
    let observer: (@Sendable (LogRecord, String) -> Void)?
    /// The daemon's own logger, with `job.id` and `build.id` metadata.
    public let logger: Logger
    /// The build's log stored so far against its `log_limit`.
    let logBudget: LogBudget
    /// What the build's command used, once it was recorded (``recordUsage(_:)``): the engine puts
    /// it into the finished build it hands to waiters, as storage has it.
    let usage: RecordedUsage
    /// The values of the job's `parameters` for this build, typed: `.int` for integers, `.bool`
    /// for booleans, `.string` for strings and choices. A parameter without a value is absent.
    public internal(set) var parameters: [String: JSONValue] = [:]
    /// The build's worker, handed back by a command function as soon as its command and
    /// everything it started have ended (the rest of the build's end does not keep the next
    /// queued build waiting).
    var worker: WorkerSlot?

    /// A string or choice parameter's value.
    public func stringParameter(_ name: String) -> String? {
        if case .string(let value)? = parameters[name] { value } else { nil }
    }

    /// An integer parameter's value.
    public func integerParameter(_ name: String) -> Int64? {
        if case .int(let value)? = parameters[name] { value } else { nil }
    }

    /// A boolean parameter's value.
    public func booleanParameter(_ name: String) -> Bool? {
        if case .bool(let value)? = parameters[name] { value } else { nil }
    }

    public init(
        buildID: Int64, jobID: String, socketPath: String?, token: String? = nil,
        settings: ExecutionSettings = ExecutionSettings(),
        redactor: SecretRedactor = SecretRedactor([]), storage: any Storage,
        observer: (@Sendable (LogRecord, String) -> Void)? = nil, logger: Logger
    ) {
        self.init(
            buildID: buildID, jobID: jobID, socketPath: socketPath, token: token, settings: settings,
            redactor: redactor, storage: storage, observer: observer, logger: logger, logBudget: LogBudget())
    }

    init(
        buildID: Int64, jobID: String, socketPath: String?, token: String?, settings: ExecutionSettings,
        redactor: SecretRedactor, storage: any Storage, observer: (@Sendable (LogRecord, String) -> Void)?,
        logger: Logger, logBudget: LogBudget, usage: RecordedUsage = RecordedUsage()
    ) {
        self.logBudget = logBudget
        self.usage = usage
        self.observer = observer
        self.buildID = buildID
        self.jobID = jobID
        self.socketPath = socketPath
        self.token = token
        self.settings = settings
        self.redactor = redactor
        self.storage = storage
        var logger = logger
        logger[metadataKey: "job.id"] = "\(jobID)"
        logger[metadataKey: "build.id"] = "\(buildID)"
        self.logger = logger
    }

    /// The same context with other execution settings.
    func with(settings: ExecutionSettings, parameters: [String: JSONValue]? = nil) -> BuildContext {
        var context = BuildContext(
            buildID: buildID, jobID: jobID, socketPath: socketPath, token: token, settings: settings,
            redactor: redactor, storage: storage, observer: observer, logger: logger, logBudget: logBudget,
            usage: usage)
        context.parameters = parameters ?? self.parameters
        context.worker = worker
        return context
    }

    /// Stores a log record for this build. A storage failure is reported in the daemon's log and
    /// does not fail the build.
    public func log(_ level: LogLevel, _ message: String, logger name: String = "jobcontrol") {
        log(levels: [(level, message)], logger: name)
    }

    /// Reports progress of this build (group nested with `::`, as in `download::file-3`); stored
    /// before it returns. Invalid input (negative numbers, a bad group) is an error for the caller.
    public func progress(_ current: Int64, of total: Int64, group: String = "", status: String? = nil)
        throws(StorageError)
    {
        let report = try ProgressReport(
            group: ProgressGroup(name: group), current: current, total: total, statusLine: status.map(redactor.redact))
        try storage.reportBuildProgress(buildID, [report])
    }

    /// Hands lines of output in for storage without waiting (see ``Storage/enqueueLogMessages(_:)``):
    /// they are stored within milliseconds and before the build's end is recorded. Past the
    /// build's `log_limit` they are counted instead (``reportDroppedLog()``).
    func record(output lines: [LineSplitter.Line], level: LogLevel, logger name: String) {
        let now = Date()
        let records = logBudget.admit(
            lines.map {
                LogRecord(
                    buildID: buildID, created: now, level: level.rawValue, message: redactor.redact($0.text),
                    logger: name, partial: $0.partial)
            }, limit: settings.resources.effectiveLogLimit)
        guard !records.isEmpty else { return }
        storage.enqueueLogMessages(records)
        DaemonMetrics.shared.logged(lines: records.count, bytes: records.reduce(0) { $0 + $1.message.utf8.count })
        if let observer { records.forEach { observer($0, jobID) } }
    }

    /// One last record saying how much output the `log_limit` kept out, if any was.
    func reportDroppedLog() {
        guard let (records, bytes) = logBudget.takeDropReport() else { return }
        let record = LogRecord(
            buildID: buildID, level: LogLevel.warning.rawValue,
            message:
                "log_limit \(ByteSize.text(settings.resources.effectiveLogLimit)) reached: \(records) further records (\(ByteSize.human(Int64(bytes))) of output) were counted, not stored",
            logger: "jobcontrol")
        storage.enqueueLogMessages([record])
        observer?(record, jobID)
    }

    /// Records where this build's command runs, for crash recovery (see ``ProcessGroups``):
    /// its process group and its leader's start (`startTicks`, nil when the leader is gone).
    func recordProcess(group: Int32, startTicks: Int64?, cgroup: [String]?) {
        guard let start = startTicks else { return }
        do {
            try storage.setBuildProcess(buildID, group: group, startTicks: start, cgroup: cgroup)
        } catch {
            logger.warning("cannot record the build's process group", metadata: ["error": "\(error)"])
        }
    }

    /// Records what the build's command used (stored before the build's end).
    func recordUsage(_ usage: ResourceUsage) {
        do {
            try storage.setBuildUsage(buildID, usage)
            self.usage.value.withLock { $0 = usage }
        } catch {
            logger.warning("cannot record the build's resource usage", metadata: ["error": "\(error)"])
        }
    }

    /// Stores several log records for this build in one transaction.
    public func log(levels entries: [(LogLevel, String)], logger name: String) {
        let now = Date()
        let records = logBudget.admit(
            entries.map {
                LogRecord(
                    buildID: buildID, created: now, level: $0.0.rawValue, message: redactor.redact($0.1), logger: name)
            }, limit: settings.resources.effectiveLogLimit)
        guard !records.isEmpty else { return }
        if let observer { records.forEach { observer($0, jobID) } }
        DaemonMetrics.shared.logged(lines: records.count, bytes: records.reduce(0) { $0 + $1.message.utf8.count })
        do {
            try storage.logMessages(records)
        } catch  where error.isTransient {
            // The storage is failing: the lines join the held writes (written when it is back,
            // or counted as lost against this build), instead of vanishing here.
            storage.enqueueLogMessages(records)
        } catch {
            logger.error(
                "cannot store build log records", metadata: ["error": "\(error)", "count": "\(records.count)"])
        }
    }
}

/// A build's resource usage as its command recorded it, shared by the copies of its context.
///
/// Ownership: the value is behind its `Mutex`.
final class RecordedUsage: Sendable {
    let value = Mutex<ResourceUsage?>(nil)
}
