import Dispatch
import FoundationEssentials
import Glibc

/// The seed's `StorageBase`, in Swift: where builds, their progress and their logs live.
///
/// Every backend passes the same conformance suite (`Tests/JobControlTests/StorageConformance`).
/// Implementations are thread-safe. Calls block until the data is durable (writes) or read;
/// log and progress writes from concurrent callers are committed together (group commit).
public protocol Storage: ScheduleStore, NotificationStore, Sendable {
    /// Whether writes go through now, and the log lines given up on during an outage.
    var health: StorageHealth { get }

    /// Creates or upgrades the schema (named, append-only migrations).
    func install() throws(StorageError)

    /// Drops every table this storage created. Irreversible.
    func uninstall() throws(StorageError)

    /// Builds of one job (or of every job when `jobID` is nil), by id, filtered.
    func getJobBuilds(jobID: String?, filter: BuildFilter, order: BuildOrder, limit: Int) throws(StorageError)
        -> [Build]

    /// Every job id that has builds, including jobs no longer configured.
    func jobIDs() throws(StorageError) -> [String]

    /// Creates a build of `jobID`, storing `jobConfig` (a copy of the job's configuration) and
    /// `buildConfig` (such as `dependency_builds` pins) as its config `{"job": …, "build": …}`.
    func createBuild(jobID: String, jobConfig: JSONValue, buildConfig: JSONValue) throws(StorageError) -> Int64

    /// Creates several builds at once (a planned run's wave), in one transaction where the
    /// backend can; returns their ids in order. The default creates them one by one.
    func createBuilds(_ builds: [(jobID: String, jobConfig: JSONValue, buildConfig: JSONValue)]) throws(StorageError)
        -> [Int64]

    func getBuild(_ id: Int64) throws(StorageError) -> Build?

    /// Records a build that never ran (`NotRun`, `DependencyFailed`): created finished and failed,
    /// with `exception`, in one write, so no daemon sharing the queue can take it meanwhile.
    func createNotRunBuild(jobID: String, jobConfig: JSONValue, exception: JSONValue) throws(StorageError) -> Int64

    /// Deletes a build with its progress and log records.
    func deleteBuild(_ id: Int64) throws(StorageError)

    /// Marks a build RUNNING now.
    func startBuild(_ id: Int64) throws(StorageError)

    /// Marks a build finished now, with its outcome.
    func finishBuild(
        _ id: Int64, success: Bool, skipped: Bool, retval: JSONValue?, exception: JSONValue?,
        exceptionTraceback: JSONValue?
    ) throws(StorageError)

    /// ``startBuild(_:)`` without blocking the calling thread while the write is committed (the
    /// engine's hot path), with the start time the engine observed.
    func startBuildAsync(_ id: Int64, at startTime: Date) async throws(StorageError)

    /// True when ``startBuildAsync(_:at:)`` and ``finishBuildAsync(_:at:success:skipped:retval:exception:exceptionTraceback:)``
    /// store exactly the times given: the engine then knows a finished build's record without
    /// reading it back.
    var recordsGivenTimes: Bool { get }

    /// ``finishBuild(_:success:skipped:retval:exception:exceptionTraceback:)`` without blocking
    /// the calling thread, with the end time the engine observed (when the build's work ended;
    /// its worker may already run the next build while this is recorded).
    /// `notify`: what the end tells (``NotificationTrigger``), written in the same transaction.
    func finishBuildAsync(
        _ id: Int64, at endTime: Date, success: Bool, skipped: Bool, retval: JSONValue?, exception: JSONValue?,
        exceptionTraceback: JSONValue?, notify: NotificationTrigger?
    ) async throws(StorageError)

    /// Stores progress reports (one row per build and group, the latest report wins).
    func reportBuildProgress(_ buildID: Int64, _ reports: [ProgressReport]) throws(StorageError)

    /// ``reportBuildProgress(_:_:)`` without blocking the calling thread until it is committed
    /// (the in-build helpers: many builds' calls then share one commit); the default blocks.
    func reportBuildProgressAsync(_ buildID: Int64, _ reports: [ProgressReport]) async throws(StorageError)

    /// The progress tree of a build: reported groups and their ancestors (summed when not reported).
    func getBuildProgressInfo(_ buildID: Int64) throws(StorageError) -> [ProgressInfo]

    /// The newest successful, not skipped build of a job.
    func getLatestSuccessfulBuild(jobID: String) throws(StorageError) -> Build?

    /// Stores log records; returns once they are committed.
    func logMessages(_ records: [LogRecord]) throws(StorageError)

    /// ``logMessages(_:)`` without blocking the calling thread; the default blocks.
    func logMessagesAsync(_ records: [LogRecord]) async throws(StorageError)

    /// Hands log records in without waiting: they are committed within milliseconds, in a
    /// transaction shared with other writes, and always before the build's next state change.
    /// For high-rate output (a command's stdout); ``flush()`` waits for them and reports failures.
    func enqueueLogMessages(_ records: [LogRecord])

    /// Waits until every enqueued write is committed; throws the first failure among them since
    /// the last flush.
    func flush() throws(StorageError)

    /// ``flush()`` without blocking a thread (the engine's, at each build's end).
    func flushAsync() async throws(StorageError)

    /// Suspends while the queue of enqueued writes is full, so a fast producer (a command's
    /// output) cannot grow it without bound. Returns at once when there is room.
    func waitForWriteCapacity() async

    /// Log records matching `query`, oldest first.
    func iterLogMessages(_ query: LogQuery) throws(StorageError) -> [LogRecord]

    /// Deletes log records matching `filter` (or only counts them, with `dryRun`). Returns how many.
    func pruneLogMessages(_ filter: LogPruneFilter, dryRun: Bool) throws(StorageError) -> Int

    /// Deletes finished builds of `jobID` beyond `policy` (see ``BuildRetention``), or only lists
    /// them with `dryRun`. Returns their ids.
    func pruneBuilds(jobID: String, policy: BuildRetention, now: Date, dryRun: Bool) throws(StorageError) -> [Int64]

    /// Finishes every build left RUNNING or CREATED (by a daemon that died) as failed with `reason`.
    /// Returns the ids it finished.
    func failUnfinishedBuilds(reason: BuildException) throws(StorageError) -> [Int64]

    /// Records the process group a build's command runs in, with its leader's start time (clock
    /// ticks since boot, from /proc), so a daemon that restarts after a crash can find and stop
    /// the orphans — and only them, even after PIDs were reused. May be handed in without waiting
    /// (as ``enqueueLogMessages(_:)``): stored within milliseconds, visible after ``flush()``.
    /// `cgroup`: the build's cgroup directories (the membership one first), when it has them.
    func setBuildProcess(_ id: Int64, group: Int32, startTicks: Int64, cgroup: [String]?) throws(StorageError)

    /// Records what a build's command used; handed in like ``setBuildProcess(_:group:startTicks:cgroup:)``
    /// and stored before the build's end, which is submitted after it.
    func setBuildUsage(_ id: Int64, _ usage: ResourceUsage) throws(StorageError)

    /// Builds not finished (left by a daemon that died, or queued), oldest first, with their
    /// recorded process group.
    func unfinishedBuilds() throws(StorageError) -> [UnfinishedBuild]
}

/// A build a previous daemon left unfinished, and where its command ran.
public struct UnfinishedBuild: Sendable, Hashable {
    public var build: Build
    public var processGroup: Int32?
    public var processStartTicks: Int64?
    /// The build's cgroup directories, when it ran in cgroups.
    public var cgroup: [String]?

    public init(build: Build, processGroup: Int32? = nil, processStartTicks: Int64? = nil, cgroup: [String]? = nil) {
        self.cgroup = cgroup
        self.build = build
        self.processGroup = processGroup
        self.processStartTicks = processStartTicks
    }
}

/// Which log records to read. Dates are inclusive bounds on `created`.
public struct LogQuery: Sendable, Hashable {
    public var buildID: Int64?
    /// Only records created at or after this date.
    public var minDate: Date?
    /// Only records created at or before this date.
    public var maxDate: Date?
    /// Only records at this level or above.
    public var minLevel: Int?
    /// Only records with an id above this one (to follow a log).
    public var afterID: Int64?
    public var limit: Int?
    /// The newest records first (with `limit`: a log's tail).
    public var newestFirst = false

    public init(
        buildID: Int64? = nil, minDate: Date? = nil, maxDate: Date? = nil, minLevel: Int? = nil, afterID: Int64? = nil,
        limit: Int? = nil, newestFirst: Bool = false
    ) {
        self.newestFirst = newestFirst
        self.buildID = buildID
        self.minDate = minDate
        self.maxDate = maxDate
        self.minLevel = minLevel
        self.afterID = afterID
        self.limit = limit
    }
}

/// Which log records to delete; every given condition must hold.
public struct LogPruneFilter: Sendable, Hashable {
    public var jobID: String?
    public var buildID: Int64?
    /// Only records older than this many seconds (measured from `now`).
    public var maxAge: TimeInterval?
    /// Only records at this level or below (the seed's `level`).
    public var level: Int?
    /// Only records above this level (so retention bands do not overlap).
    public var levelAbove: Int?
    public var now: Date

    public init(
        jobID: String? = nil, buildID: Int64? = nil, maxAge: TimeInterval? = nil, level: Int? = nil,
        levelAbove: Int? = nil, now: Date = Date()
    ) {
        self.jobID = jobID
        self.buildID = buildID
        self.maxAge = maxAge
        self.level = level
        self.levelAbove = levelAbove
        self.now = now
    }
}

extension Storage {
    public func reportBuildProgressAsync(_ buildID: Int64, _ reports: [ProgressReport]) async throws(StorageError) {
        try reportBuildProgress(buildID, reports)
    }

    public func logMessagesAsync(_ records: [LogRecord]) async throws(StorageError) {
        try logMessages(records)
    }

    public func createBuilds(_ builds: [(jobID: String, jobConfig: JSONValue, buildConfig: JSONValue)])
        throws(StorageError) -> [Int64]
    {
        var ids: [Int64] = []
        for build in builds {
            ids.append(try createBuild(jobID: build.jobID, jobConfig: build.jobConfig, buildConfig: build.buildConfig))
        }
        return ids
    }

    /// The default creates the build, then finishes it (a backend without a shared queue has
    /// nobody to take it in between).
    public func createNotRunBuild(jobID: String, jobConfig: JSONValue, exception: JSONValue) throws(StorageError)
        -> Int64
    {
        let id = try createBuild(jobID: jobID, jobConfig: jobConfig, buildConfig: [:])
        try finishBuild(id, success: false, skipped: false, retval: nil, exception: exception, exceptionTraceback: nil)
        return id
    }

    /// The default records the start at the time of the call (backends override it).
    public func startBuildAsync(_ id: Int64, at startTime: Date) async throws(StorageError) {
        try startBuild(id)
    }

    public var recordsGivenTimes: Bool { false }

    /// A build's end that notifies nobody.
    public func finishBuildAsync(
        _ id: Int64, at endTime: Date, success: Bool, skipped: Bool, retval: JSONValue?, exception: JSONValue?,
        exceptionTraceback: JSONValue?
    ) async throws(StorageError) {
        try await finishBuildAsync(
            id, at: endTime, success: success, skipped: skipped, retval: retval, exception: exception,
            exceptionTraceback: exceptionTraceback, notify: nil)
    }

    /// The seed's `create_build(job_id, config)` with the config already combined.
    public func createBuild(jobID: String, config: JSONValue) throws(StorageError) -> Int64 {
        try createBuild(
            jobID: jobID, jobConfig: config["job"] ?? .object([:]), buildConfig: config["build"] ?? .object([:]))
    }

    /// The seed's `finish_build_with_exception`: a failed build with the error and its traceback.
    public func finishBuildWithException(_ id: Int64, _ error: any Error, traceback: TracebackInfo? = nil)
        throws(StorageError)
    {
        try finishBuild(
            id, success: false, skipped: false, retval: nil, exception: BuildException(wrapping: error).json,
            exceptionTraceback: (traceback ?? TracebackInfo.capture(dropping: 2)).json)
    }

    /// The seed's `update_build_progress`: progress of the build as a whole.
    public func updateBuildProgress(_ id: Int64, current: Int64, total: Int64) throws(StorageError) {
        try reportBuildProgress(id, [ProgressReport(current: current, total: total)])
    }

    /// The seed's `report_build_progress`, with the group as a `::`-separated name.
    public func reportBuildProgress(
        _ id: Int64, current: Int64, total: Int64, group: String = "", statusLine: String? = nil
    )
        throws(StorageError)
    {
        let report = try ProgressReport(
            group: ProgressGroup(name: group), current: current, total: total, statusLine: statusLine)
        try reportBuildProgress(id, [report])
    }

    public func logMessage(_ record: LogRecord) throws(StorageError) {
        try logMessages([record])
    }
}

/// Opens storage from a URL (`sqlite:///path`, `sqlite::memory:`, `postgresql://…`).
public enum StorageFactory {
    /// The URL as it may be shown and logged: a password in it is replaced by `***`.
    public static func displayName(_ url: String) -> String {
        PostgresConnection.redacted(url)
    }

    public static func open(url: String) throws(StorageError) -> any Storage {
        if url == "sqlite::memory:" {
            return try SQLiteStorage(path: nil)
        }
        if url.hasPrefix("sqlite://") {
            let path = String(url.dropFirst("sqlite://".count))
            guard path.hasPrefix("/") else {
                throw StorageError(
                    .badURL,
                    "storage URL '\(url)' needs an absolute path, as in sqlite:///var/lib/jobcontrol/jobcontrol.sqlite3"
                )
            }
            return try SQLiteStorage(path: path)
        }
        if url.hasPrefix("postgresql://") || url.hasPrefix("postgres://") {
            return try PostgresStorage(url: url)
        }
        throw StorageError(
            .badURL,
            "unsupported storage URL '\(url)'; use sqlite:///path, sqlite::memory: or postgresql://user:password@host/database"
        )
    }
}

extension Storage {
    /// A process group without cgroups.
    public func setBuildProcess(_ id: Int64, group: Int32, startTicks: Int64) throws(StorageError) {
        try setBuildProcess(id, group: group, startTicks: startTicks, cgroup: nil)
    }
}

/// How a build's cgroup directories are stored: one column, a path per line.
enum CgroupColumn {
    static func text(_ paths: [String]?) -> String? { paths.map { $0.joined(separator: "\n") } }
    static func paths(_ text: String?) -> [String]? {
        guard let text, !text.isEmpty else { return nil }
        return text.split(separator: "\n").map(String.init)
    }
}
