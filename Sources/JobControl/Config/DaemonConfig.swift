import Dispatch
import FoundationEssentials
import Glibc

/// Everything `jobcontrold` reads from its configuration file.
public struct DaemonConfig: Sendable {
    /// Storage URL: `sqlite:///path`, `sqlite::memory:`.
    public var storage: String
    /// Path of the control socket.
    public var socket: String
    /// Global limit on builds running at once.
    public var workers: Int
    /// Jobs in the order they were defined.
    public var jobs: [JobConfig] {
        didSet { jobIndex = Self.index(jobs) }
    }
    /// Position of each job id in `jobs`: lookups by id are constant time (a 10,000-job graph is
    /// looked up tens of thousands of times to plan one run).
    private var jobIndex: [String: Int] = [:]
    /// How long log records are kept, by level (`log_retention`; default: the seed's policy).
    public var logRetention: LogRetention = .default
    /// On SIGTERM, how long running builds get to end before they are cancelled (`stop_timeout`).
    /// Keep it below the unit's `TimeoutStopSec`.
    public var stopTimeout: TimeInterval = 60
    /// Named pools and their limits on builds running at once (`pools: {db: {workers: 1}}`).
    public var pools: [String: Int] = [:]
    /// Values `!secret name` resolves to (`secret:` and `secrets_file:`). Never printed, stored or
    /// sent: builds store the reference, and their output has the values masked.
    public var secrets: [String: String] = [:]
    /// Default build history limit of every job (`build_retention`; default: keep every build).
    public var buildRetention: BuildRetention?
    /// Who may read, run and administer over the socket (`access:`); nil = whoever can connect.
    public var access: AccessPolicy?
    /// This daemon's part in a cluster of daemons sharing a PostgreSQL database (`cluster:`).
    public var cluster = ClusterSettings()
    /// How builds are contained (`containment:`): each in its own cgroup where the host allows
    /// (`auto`), or by process group only (`process-group`). Takes effect at a restart.
    public var containment: Containment = .auto
    /// Resource keys every job gets unless it sets its own (`job_defaults:`).
    public var jobDefaults = BuildResources()
    /// The interpreter of Python job functions (`python:`: an executable, a virtual environment's
    /// directory, or a name on PATH) unless a job names its own; nil: `python3` on PATH.
    public var python: String?
    /// Import directories added for every Python job (`python_path:`), before the job's own.
    public var pythonPath: [String] = []
    var pythonLocation: SourceLocation?
    /// Channels, default rules and retention of notifications (`notifications:`).
    public var notifications = NotificationSettings()
    /// The HTTP listener (`http:`); nil: none.
    public var http: HTTPSettings?
    /// The main configuration file, absolute.
    public var file: String?

    public init(
        storage: String = DaemonConfig.defaultStorage,
        socket: String = DaemonConfig.defaultSocket,
        workers: Int = DaemonConfig.defaultWorkers,
        jobs: [JobConfig] = [],
        file: String? = nil
    ) {
        self.storage = storage
        self.socket = socket
        self.workers = workers
        self.jobs = jobs
        self.file = file
        jobIndex = Self.index(jobs)
    }

    public func job(_ id: String) -> JobConfig? {
        jobIndex[id].map { jobs[$0] }
    }

    private static func index(_ jobs: [JobConfig]) -> [String: Int] {
        Dictionary(jobs.enumerated().map { ($0.element.id, $0.offset) }, uniquingKeysWith: { first, _ in first })
    }

    public static var defaultWorkers: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    /// `/var/lib/jobcontrol/…` as root; `$XDG_STATE_HOME/jobcontrol/…` otherwise.
    public static var defaultStorage: String {
        if geteuid() == 0 { return "sqlite:///var/lib/jobcontrol/jobcontrol.sqlite3" }
        let env = ProcessInfo.processInfo.environment
        let state =
            env["XDG_STATE_HOME"]
            ?? ((env["HOME"] ?? temporaryDirectoryPath) + "/.local/state")
        return "sqlite://" + state + "/jobcontrol/jobcontrol.sqlite3"
    }

    /// `/run/jobcontrol/jobcontrol.sock` as root; `$XDG_RUNTIME_DIR/jobcontrol/…` otherwise.
    public static var defaultSocket: String { ControlSocketPath.default }

    /// `/etc/jobcontrol/jobcontrol.yaml` as root; `$XDG_CONFIG_HOME/jobcontrol/…` otherwise.
    public static var defaultConfigFile: String {
        let env = ProcessInfo.processInfo.environment
        if geteuid() != 0 {
            let config = env["XDG_CONFIG_HOME"] ?? ((env["HOME"] ?? "/") + "/.config")
            return config + "/jobcontrol/jobcontrol.yaml"
        }
        return "/etc/jobcontrol/jobcontrol.yaml"
    }
}

/// How builds' processes are kept together and stopped (`containment:`).
public enum Containment: String, Sendable, Hashable, CaseIterable {
    /// A cgroup per build where the host gives the daemon one; else process groups.
    case auto
    /// Process groups only (and the daemon as child subreaper): no limits, no cgroup accounting.
    case processGroup = "process-group"
}
