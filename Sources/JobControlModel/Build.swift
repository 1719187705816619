import FoundationEssentials

/// One execution of a job: the seed's Build row.
public struct Build: Sendable, Hashable {
    public var id: Int64
    public var jobID: String
    public var startTime: Date?
    public var endTime: Date?
    public var started: Bool
    public var finished: Bool
    public var success: Bool
    public var skipped: Bool
    /// Copy of the job configuration at creation (`job`), plus build configuration (`build`).
    public var config: JSONValue
    public var retval: JSONValue?
    /// What went wrong, as JSON (see ``BuildException``).
    public var exception: JSONValue?
    public var exceptionTraceback: JSONValue?
    /// The daemon (`cluster.node`) that claimed the build, when several share a database.
    public var node: String?
    /// What the build's command used (CPU time, peak memory, …), once it has ended.
    public var usage: ResourceUsage?

    public init(
        id: Int64, jobID: String, startTime: Date? = nil, endTime: Date? = nil, started: Bool = false,
        finished: Bool = false, success: Bool = false, skipped: Bool = false, config: JSONValue = .object([:]),
        retval: JSONValue? = nil, exception: JSONValue? = nil, exceptionTraceback: JSONValue? = nil,
        node: String? = nil, usage: ResourceUsage? = nil
    ) {
        self.usage = usage
        self.id = id
        self.jobID = jobID
        self.startTime = startTime
        self.endTime = endTime
        self.started = started
        self.finished = finished
        self.success = success
        self.skipped = skipped
        self.config = config
        self.retval = retval
        self.exception = exception
        self.exceptionTraceback = exceptionTraceback
        self.node = node
    }

    /// Where the build is in its life: CREATED → RUNNING → SUCCESSFUL / SKIPPED / FAILED.
    public var state: BuildState {
        if !started { return finished ? .failed : .created }
        if !finished { return .running }
        if skipped { return .skipped }
        return success ? .successful : .failed
    }
}

public enum BuildState: String, Sendable, Codable, CaseIterable {
    case created = "CREATED"
    case running = "RUNNING"
    case successful = "SUCCESSFUL"
    case skipped = "SKIPPED"
    case failed = "FAILED"
}

/// Filters of the seed's `get_job_builds`; `nil` means "either".
public struct BuildFilter: Sendable, Hashable {
    public var started: Bool?
    public var finished: Bool?
    public var success: Bool?
    public var skipped: Bool?

    public init(started: Bool? = nil, finished: Bool? = nil, success: Bool? = nil, skipped: Bool? = nil) {
        self.started = started
        self.finished = finished
        self.success = success
        self.skipped = skipped
    }
}

public enum BuildOrder: String, Sendable, Codable {
    case ascending = "asc"
    case descending = "desc"
}
