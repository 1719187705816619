import ArgumentParser
import Dispatch
import FoundationEssentials
import Glibc
import JobControl
import JobControlSystemd
import Logging
import Synchronization

/// The whole of `jobcontrold` — flags, logging, signals, socket activation, the daemon — for the
/// shipped executable and for a package that builds its own with Swift functions registered:
///
/// ```swift
/// import JobControl
/// import JobControlDaemon
///
/// @main enum ReportsDaemon {
///     static func main() async {
///         var registry = FunctionRegistry.builtins
///         registry.register("reports:daily") { context, args, kwargs in
///             context.log(.info, "building the daily report")
///             return ["rows": 42]
///         }
///         await JobControlDaemonMain.run(registry: registry)
///     }
/// }
/// ```
public enum JobControlDaemonMain {
    /// Parses the process's arguments (the flags of `jobcontrold --help`), runs the daemon with
    /// `registry`'s functions until it stops, and exits the process with the daemon's status.
    public static func run(registry: FunctionRegistry = .builtins) async -> Never {
        registered.withLock { $0 = registry }
        await DaemonCommand.main()
        exit(0)
    }

    /// The functions of this process's daemon; set once by ``run(registry:)``.
    static let registered = Mutex(FunctionRegistry.builtins)
}

/// `jobcontrold`: parses flags, sets up logging and signals, and runs ``Daemon``.
struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobcontrold",
        abstract: "The JobControl daemon: runs job builds and records them.",
        discussion: """
            Exit status: 0 after a clean stop, 78 for an invalid configuration (EX_CONFIG), 74 when \
            storage cannot be opened, 71 when the control socket cannot be set up.
            """,
        version: JobControlVersion.current)

    @Option(name: [.short, .long], help: "The configuration file.")
    var config: String = DaemonConfig.defaultConfigFile

    @Option(help: "Storage URL, overriding the configuration (sqlite:///path or sqlite::memory:).")
    var storage: String?

    @Option(help: "Control socket path, overriding the configuration.")
    var socket: String?

    @Option(help: "Global limit on builds running at once, overriding the configuration.")
    var workers: Int?

    @Option(
        help:
            "This daemon's name among daemons sharing a PostgreSQL database, overriding the configuration's cluster.node (default: the host name)."
    )
    var node: String?

    @Option(help: "Lowest level of the daemon's own messages: trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    @Option(help: "Where the daemon logs: auto (the journal when stderr is connected to it), journal, console.")
    var logTarget: String = "auto"

    @Flag(help: "Validate the configuration file and exit: 0 when valid, 78 with every problem listed when not.")
    var checkConfig = false

    @Flag(help: "With --check-config: print the verdict as JSON.")
    var json = false

    func validate() throws {
        guard ["auto", "journal", "console"].contains(logTarget) else {
            throw ValidationError("--log-target must be auto, journal or console")
        }
        if let node, !ClusterSettings.isValidNode(node) {
            throw ValidationError("--node must be 1 to 64 letters, digits, '.', '_', '-', '@' or ':'")
        }
        if let socket, !socket.hasPrefix("/"), FileManager.default.currentDirectoryPath.isEmpty {
            throw ValidationError(
                "--socket \(socket) is relative, and the working directory cannot be read (removed?); give an absolute path"
            )
        }
        if let path = absoluteSocket, path.utf8.count >= 108 {
            throw ValidationError(
                "--socket \(path) is \(path.utf8.count) bytes; Unix socket paths must be shorter than 108")
        }
    }

    /// `--socket` made absolute against the working directory: the daemon hands the path to its
    /// builds, which may run elsewhere (`cwd:`), and creates the socket's directory (a relative
    /// `s.sock` has none to name).
    var absoluteSocket: String? {
        socket.map { $0.hasPrefix("/") ? $0 : FileManager.default.currentDirectoryPath + "/" + $0 }
    }

    func run() async throws {
        let registry = JobControlDaemonMain.registered.withLock { $0 }
        if checkConfig {
            let status = ConfigCheck.run(file: config, json: json, registry: registry)
            if status != 0 { throw ExitCode(status) }
            return
        }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let toJournal = logTarget == "journal" || (logTarget == "auto" && JournalLogHandler.stderrIsJournal())
        LoggingSystem.bootstrap { label in
            if toJournal {
                var handler = JournalLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "jobcontrold")
        var options = DaemonOptions(configFile: config, storage: storage, socket: absoluteSocket, workers: workers)
        options.node = node
        options.buildOutputToJournal = toJournal
        // Socket activation: use the socket systemd passes (named "jobcontrol", or the only one).
        let passed = SocketActivation.takeListeningSockets()
        if !passed.isEmpty {
            let chosen = passed.first { $0.name == "jobcontrol" } ?? (passed.count == 1 ? passed[0] : nil)
            guard let chosen, SocketActivation.isListeningUnixStream(chosen.fileDescriptor) else {
                writeToStandardError(
                    "jobcontrold: the service manager passed sockets \(passed.map(\.name)) but none is a listening Unix stream socket named 'jobcontrol'; check FileDescriptorName= in jobcontrold.socket\n"
                )
                throw ExitCode(71)
            }
            options.listeningSocket = chosen.fileDescriptor
        }
        let daemon = Daemon(options: options, registry: registry, logger: logger)

        // Descriptors: connections, builds' pipes and the database all need them; take what the
        // hard limit allows (systemd's soft default is 1024, its hard one far higher).
        var files = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &files) == 0, files.rlim_cur < files.rlim_max {
            files.rlim_cur = min(files.rlim_max, 65_536)
            _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &files)
        }

        // SIGTERM and SIGINT ask for a graceful stop; SIGPIPE never kills us (a client that hangs up
        // is an error on that connection only).
        signal(SIGPIPE, SIG_IGN)
        // No SIGCHLD handler here: builds' exit signals are dropped by the kernel instead of
        // waking the main thread once per build (spawn.c).
        _ = ProcessSpawner.dropChildSignals()
        let sources = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { daemon.shutdown() }
            source.resume()
            return source
        }
        // SIGHUP reloads the configuration (ExecReload=kill -HUP $MAINPID).
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hangup.setEventHandler { daemon.reload() }
        hangup.resume()
        // A test hook, off unless JOBCONTROL_DEBUG_HOOKS=1: SIGUSR2 stalls the scheduler for good,
        // so tests can see the service manager's watchdog restart a stuck daemon.
        var debugSources: [any DispatchSourceSignal] = []
        if ProcessInfo.processInfo.environment["JOBCONTROL_DEBUG_HOOKS"] == "1" {
            signal(SIGUSR2, SIG_IGN)
            let stall = DispatchSource.makeSignalSource(signal: SIGUSR2, queue: .global())
            stall.setEventHandler { daemon.stallSchedulerForTesting() }
            stall.resume()
            debugSources.append(stall)
        }
        defer { (sources + [hangup] + debugSources).forEach { $0.cancel() } }
        // The process's build cgroups go with it (kept leftovers' stay, for the next sweep).
        defer { CgroupHost.releaseIfSetUp() }

        do {
            try await daemon.run()
        } catch {
            let message: String
            if case .config(let config) = error {
                message =
                    config.description
                    + "\njobcontrold: invalid configuration (\(config.countText)); not started\n"
            } else {
                message = "jobcontrold: \(error)\n"
            }
            writeToStandardError(message)
            throw ExitCode(error.exitStatus)
        }
    }
}
