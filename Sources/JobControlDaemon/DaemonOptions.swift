import JobControl

/// How to start the daemon: which configuration file, and overrides from the command line.
public struct DaemonOptions: Sendable {
    public var configFile: String
    /// Overrides the configuration's `storage` when set.
    public var storage: String?
    /// Overrides the configuration's `socket` when set.
    public var socket: String?
    /// Overrides the configuration's `workers` when set.
    public var workers: Int?
    /// Overrides the configuration's `cluster.node` when set.
    public var node: String?
    /// Where build log records go besides storage: the journal (with `JOBCONTROL_JOB=`,
    /// `JOBCONTROL_BUILD=`, `PRIORITY=` fields) or nowhere (console: builds' lines are read with
    /// `jobctl logs`, not mixed into the daemon's own output).
    public var buildOutputToJournal = false
    /// A listening socket passed by the service manager (socket activation), used instead of
    /// binding the configured path.
    public var listeningSocket: Int32?

    public init(
        configFile: String = DaemonConfig.defaultConfigFile, storage: String? = nil, socket: String? = nil,
        workers: Int? = nil
    ) {
        self.configFile = configFile
        self.storage = storage
        self.socket = socket
        self.workers = workers
    }
}
