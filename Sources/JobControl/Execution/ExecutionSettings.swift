/// How a command build's process is set up, resolved for one build (secrets included, so this
/// value is never stored or shown).
public struct ExecutionSettings: Sendable, Hashable {
    /// Added to the daemon's environment.
    public var environment: [String: String] = [:]
    public var workingDirectory: String?
    /// Run as this user (and their primary group unless `group` is set); needs a root daemon.
    public var user: String?
    public var group: String?
    /// Limits, leftovers and the log cap (the job's keys over `job_defaults`).
    public var resources = BuildResources()
    /// The cgroups commands run in (``CgroupHost/setUp()``); nil: contained by process group only.
    public var cgroups: CgroupHost?

    public init(
        environment: [String: String] = [:], workingDirectory: String? = nil, user: String? = nil, group: String? = nil,
        resources: BuildResources = BuildResources(), cgroups: CgroupHost? = nil
    ) {
        self.resources = resources
        self.cgroups = cgroups
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.user = user
        self.group = group
    }
}
