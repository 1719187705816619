import ArgumentParser
import FoundationEssentials
import Glibc
import JobControlClient
import JobControlModel
import JobControlProtocol

/// `jobctl`: the JobControl client. One file per subcommand.

struct JobCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobctl",
        abstract: "Control jobcontrold: list jobs, run builds, read their history and logs.",
        discussion: """
            Exit status: 0 on success; 1 when a build failed (run --wait/--follow) or the daemon refused \
            the request (the message says why); 64 for a usage error; 69 when the daemon cannot be \
            reached or does not answer in time; 74 when the output cannot be written (a full disk); 78 \
            when check-config finds errors.

            The daemon must answer a call within 60 s, or JOBCONTROL_TIMEOUT seconds (0: no limit); a \
            build's own calls (progress, log, retval, skip), delete and prune wait as long as it takes \
            unless JOBCONTROL_TIMEOUT is set, and a followed build's later replies come when they come.

            --json prints the Varlink types of the io.jobcontrol.Manager interface (Job, Build, \
            LogRecord, ProgressGroup, NextRun, Occurrence; `varlinkctl introspect` shows them), with \
            sorted keys; logs --follow and progress --watch print one JSON value per line. \
            Shell completions: jobctl --generate-completion-script bash|zsh|fish.
            """,
        version: JobControlVersion.current,
        subcommands: [
            Status.self, Jobs.self, Show.self, Run.self, Cancel.self, Delete.self, Builds.self, BuildCommand.self,
            Logs.self, Progress.self, Prune.self, Reload.self, CheckConfig.self, Log.self, Retval.self, Skip.self,
            Calendar.self, Next.self, Suspend.self, Resume.self, Notify.self, Import.self,
        ])

    /// Accepts the global options before the subcommand too (`jobctl --json builds`), as the
    /// documented form `jobctl [--socket PATH] [--json] COMMAND` promises.
    static func main() async {
        await main(globalOptionsMovedAfterSubcommand(Array(CommandLine.arguments.dropFirst())))
    }

    /// The commands that need no daemon (they take no `--socket`). An array: a `Set`'s metadata
    /// and hashing would cost every call (docs/performance.md, session 21).
    static let offlineCommands = ["calendar", "check-config", "import"]

    static func globalOptionsMovedAfterSubcommand(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--json" || argument.hasPrefix("--socket=") {
                leading.append(argument)
            } else if argument == "--socket", index + 1 < arguments.count {
                leading += [argument, arguments[index + 1]]
                index += 1
            } else {
                break
            }
            index += 1
        }
        guard !leading.isEmpty, index < arguments.count else { return arguments }
        // The commands that work offline reach no daemon: a `--socket` before them (an alias
        // `jobctl='jobctl --socket …'`) is of no use to them, and no reason to refuse the command.
        if offlineCommands.contains(arguments[index]) {
            var kept: [String] = []
            var position = 0
            while position < leading.count {
                if leading[position] == "--socket" {
                    position += 2
                    continue
                }
                if !leading[position].hasPrefix("--socket=") { kept.append(leading[position]) }
                position += 1
            }
            leading = kept
            if leading.isEmpty { return Array(arguments[index...]) }
        }
        // `retval` has an option `--json TEXT` of its own (the value as JSON) and prints nothing:
        // the output format's `--json` moved after it took the value for its text, and `jobctl
        // --json retval 5` stored the number 5. Left in place, it is refused as unknown there.
        if arguments[index] == "retval", leading.contains("--json") { return arguments }
        // A command with subcommands of its own (`notify list`) takes them after the whole path.
        var path = index + 1
        if ["notify", "import"].contains(arguments[index]), path < arguments.count, !arguments[path].hasPrefix("-") {
            path += 1
        }
        return Array(arguments[index..<path]) + leading + arguments[path...]
    }
}

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(help: "The daemon's control socket (default: $JOBCONTROL_SOCKET, else the daemon's default).")
    var socket: String?

    @Flag(help: "Print JSON instead of tables.")
    var json = false

    var socketPath: String { Self.socketPath(socket) }

    static func socketPath(_ socket: String?) -> String {
        socket ?? environment("JOBCONTROL_SOCKET") ?? ControlSocketPath.forClient
    }

    func withConnection<T>(_ body: (VarlinkConnection) async throws -> T) async throws -> T {
        try await Self.withConnection(socket: socket, body)
    }

    /// One call to the daemon, on a plain blocking socket (no event loop to start: most commands
    /// make one call and exit); errors as for ``withConnection(_:)``.
    func call(_ method: String, _ parameters: [String: JSONValue] = [:]) throws -> [String: JSONValue] {
        try Self.call(socket: socket, method, parameters)
    }

    static func call(socket: String?, _ method: String, _ parameters: [String: JSONValue] = [:]) throws -> [String:
        JSONValue]
    {
        // A build's own calls go to the builds' socket, which a build running as another user
        // (user:) may open where the control socket is closed to it.
        var path = socketPath(socket)
        if socket == nil, method.hasPrefix(Interfaces.build + "."), let builds = environment("JOBCONTROL_BUILD_SOCKET"),
            access(builds, F_OK) == 0
        {
            path = builds
        }
        do {
            return try VarlinkBlockingCall.call(
                path: path, method: method, parameters: parameters, timeout: callTimeout(method))
        } catch {
            throw exitStatus(for: error)
        }
    }

    /// One call whose replies stream (`more`), on a plain blocking socket; errors as for
    /// ``withConnection(_:)``.
    static func callMore(
        socket: String?, _ method: String, _ parameters: [String: JSONValue],
        onReply: ([String: JSONValue]) throws -> Void
    ) throws {
        do {
            try VarlinkBlockingCall.callMore(
                path: socketPath(socket), method: method, parameters: parameters, timeout: callTimeout(method),
                onReply: onReply)
        } catch {
            throw exitStatus(for: error)
        }
    }

    /// How long the daemon may take to answer a call (its first reply, for a streamed one).
    /// `JOBCONTROL_TIMEOUT` in seconds (0: no limit); by default ``defaultTimeout``, except for the
    /// calls that may rightly take long: a build's own calls (which wait through a storage outage,
    /// as the build's output does) and those that run a job's `cleanup_function`.
    static func callTimeout(_ method: String) throws -> Duration? {
        if let text = environment("JOBCONTROL_TIMEOUT") {
            guard let seconds = Double(text), seconds.isFinite, seconds >= 0, seconds <= 1e9 else {
                printError("JOBCONTROL_TIMEOUT must be a number of seconds (0: no limit), not '\(text)'")
                throw ExitCode(64)
            }
            return seconds == 0 ? nil : .milliseconds(max(1, Int64(seconds * 1000)))
        }
        if method.hasPrefix(Interfaces.build + ".") || unlimitedMethods.contains(method) { return nil }
        return defaultTimeout
    }

    /// What a call may take by default (`JOBCONTROL_TIMEOUT` changes it).
    static let defaultTimeout: Duration = .seconds(60)

    /// The daemon's methods that run a job's code before they answer.
    static let unlimitedMethods = [Interfaces.manager + ".DeleteBuild", Interfaces.manager + ".Prune"]

    /// Runs `body` on a connection to the daemon; errors are printed as one line and become exit
    /// statuses.
    static func withConnection<T>(socket: String?, _ body: (VarlinkConnection) async throws -> T) async throws -> T {
        do {
            return try await VarlinkConnection.withConnection(path: socketPath(socket), body)
        } catch {
            throw exitStatus(for: error)
        }
    }

    /// Prints `error` as one line and returns the exit status it becomes (69: no daemon).
    static func exitStatus(for error: any Error) -> ExitCode {
        switch error {
        case let code as ExitCode:
            return code
        case let error as ClientError:
            printError(error.description)
            switch error {
            case .cannotConnect, .connectionLost, .noAnswer: return ExitCode(69)
            default: return ExitCode(1)
            }
        default:
            printError("\(error)")
            return ExitCode(1)
        }
    }
}

/// One environment variable (`ProcessInfo.environment` copies all of them, on every start).
func environment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

func printError(_ message: String) {
    writeAll(2, "jobctl: \(message)\n")
}
