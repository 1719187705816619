import ArgumentParser
import Foundation
import JobControl
import JobControlClient

/// `jobctl`: the JobControl client. One file per subcommand.
@main
struct JobCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobctl",
        abstract: "Control jobcontrold: list jobs, run builds, read their history and logs.",
        discussion: """
            Exit status: 0 on success; 1 when a build failed (run --wait/--follow) or the daemon refused \
            the request (the message says why); 64 for a usage error; 69 when the daemon cannot be \
            reached; 78 when check-config finds errors.

            --json prints the Varlink types of the io.jobcontrol.Manager interface (Job, Build, \
            LogRecord, ProgressGroup, NextRun, Occurrence; `varlinkctl introspect` shows them), with \
            sorted keys; logs --follow and progress --watch print one JSON value per line. \
            Shell completions: jobctl --generate-completion-script bash|zsh|fish.
            """,
        subcommands: [Status.self, Jobs.self, Show.self, Run.self, Cancel.self, Delete.self, Builds.self, BuildCommand.self, Logs.self, Progress.self, Prune.self, Reload.self, CheckConfig.self, Log.self, Retval.self, Skip.self, Calendar.self, Next.self, Suspend.self, Resume.self])

    /// Accepts the global options before the subcommand too (`jobctl --json builds`), as the
    /// documented form `jobctl [--socket PATH] [--json] COMMAND` promises.
    static func main() async {
        await main(globalOptionsMovedAfterSubcommand(Array(CommandLine.arguments.dropFirst())))
    }

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
        return [arguments[index]] + leading + arguments[(index + 1)...]
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
        socket ?? ProcessInfo.processInfo.environment["JOBCONTROL_SOCKET"] ?? DaemonConfig.defaultSocket
    }

    func withConnection<T>(_ body: (VarlinkConnection) async throws -> T) async throws -> T {
        try await Self.withConnection(socket: socket, body)
    }

    /// Runs `body` on a connection to the daemon; errors are printed as one line and become exit
    /// statuses.
    static func withConnection<T>(socket: String?, _ body: (VarlinkConnection) async throws -> T) async throws -> T {
        do {
            return try await VarlinkConnection.withConnection(path: socketPath(socket), body)
        } catch let error as ExitCode {
            throw error
        } catch let error as ClientError {
            printError(error.description)
            if case .cannotConnect = error { throw ExitCode(69) }
            throw ExitCode(1)
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data("jobctl: \(message)\n".utf8))
}
