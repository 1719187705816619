import ArgumentParser
import Glibc
import JobControlModel

/// The one-shot commands that scripts and builds call (`status`, `jobs`, `builds`, `build ID`,
/// `logs ID`, `cancel ID`, `delete ID`, `progress ID`, `show JOB`, `next [JOB]`, `suspend JOB`,
/// `resume JOB`, `run JOB` with `--wait` or without, and the in-build helpers `progress CURRENT
/// TOTAL`, `log`, `retval`, `skip`), recognized by hand in their plain shapes and run without
/// ArgumentParser. ArgumentParser's parse costs more than the call itself, about half of a jobctl
/// start-up: it reflects the command's properties (`Mirror`, generic metadata, each property's type
/// checked for its protocols by a scan of the executable's conformance records), and does so for two
/// pseudo-commands first, to notice a completion-script request. Parsing the one subcommand alone
/// saves nothing measurable (tried); see docs/performance.md.
///
/// The rule that keeps the two paths one command: this path takes an argument list only when every
/// argument is one it knows, and runs the same function the ArgumentParser command runs. Anything
/// else (`--help`, `-h`, an unknown or misspelled option, a missing value, a value that starts with
/// `-`) returns nil and ArgumentParser parses the arguments, with its help and its errors. An error
/// before the call (no `JOBCONTROL_TOKEN`, a bad level, a `--json` text that does not parse) also
/// hands over to ArgumentParser, which reports it the same way as always. Once a command other
/// than the in-build helpers has been recognized, its errors are reported here as ArgumentParser
/// reports them (they come from its call or after it: a second try would queue a second build,
/// print pages again, or read a reply twice that may have changed meanwhile); the helpers' errors
/// from their calls are exit statuses already (`GlobalOptions.call`), so none is made twice.
/// `JOBCTL_NO_FAST_PATH=1` turns it off (the tests compare both paths).
enum FastPath {
    /// The exit status when `arguments` (the subcommand first) was handled here, nil otherwise.
    static func run(_ arguments: [String]) -> Int32? {
        if getenv("JOBCTL_NO_FAST_PATH") != nil { return nil }
        guard let command = arguments.first, let scan = Scan(Array(arguments.dropFirst())) else { return nil }
        do {
            switch command {
            case "status":
                guard scan.positionals.isEmpty, scan.options.isEmpty, scan.flags.isEmpty else { return nil }
                return reportingErrors { try JobCtl.Status.show(socket: scan.socket, json: scan.json) }
            case "jobs":
                guard scan.positionals.isEmpty, scan.options.isEmpty, scan.flags.isEmpty else { return nil }
                return reportingErrors { try JobCtl.Jobs.list(socket: scan.socket, json: scan.json) }
            case "builds":
                guard scan.positionals.count <= 1, scan.flags.isEmpty, scan.options.keys.allSatisfy({ $0 == "--limit" })
                else { return nil }
                var limit = 20
                if let text = scan.options["--limit"] {
                    guard let given = Int(text), JobCtl.Builds.limits.contains(given) else { return nil }
                    limit = given
                }
                return reportingErrors {
                    try JobCtl.Builds.list(
                        socket: scan.socket, json: scan.json, job: scan.positionals.first, limit: limit)
                }
            case "build", "cancel", "delete":
                guard let action = buildCommands[command], scan.positionals.count == 1,
                    let id = Int64(scan.positionals[0]), scan.options.isEmpty, scan.flags.isEmpty
                else { return nil }
                return reportingErrors { try action(scan.socket, scan.json, id) }
            case "show", "suspend", "resume":
                guard let action = jobCommands[command], scan.positionals.count == 1, scan.options.isEmpty,
                    scan.flags.isEmpty
                else { return nil }
                return reportingErrors { try action(scan.socket, scan.json, scan.positionals[0]) }
            case "next":
                guard scan.positionals.count <= 1, scan.flags.isEmpty, scan.options.keys.allSatisfy({ $0 == "--count" })
                else { return nil }
                var count = 1
                if let text = scan.options["--count"] {
                    guard let given = Int(text) else { return nil }
                    count = given
                }
                return reportingErrors {
                    try JobCtl.Next.list(
                        socket: scan.socket, json: scan.json, job: scan.positionals.first, count: count)
                }
            case "logs":
                guard scan.positionals.count == 1, let id = Int64(scan.positionals[0]), scan.flags.isEmpty,
                    scan.options.keys.allSatisfy({ $0 == "--level" })
                else { return nil }
                var parameters: [String: JSONValue] = ["build": .int(id)]
                if let text = scan.options["--level"] {
                    guard let level = LogLevel(parsing: text) else { return nil }
                    parameters["min_level"] = .int(Int64(level.rawValue))
                }
                // Pages already printed must not be printed again by a second try.
                return reportingErrors {
                    try JobCtl.Logs.printLog(socket: scan.socket, json: scan.json, parameters: parameters)
                }
            case "run":
                guard scan.positionals.count == 1, scan.options.isEmpty else { return nil }
                let parameters = JobCtl.Run.parameters(
                    job: scan.positionals[0], force: scan.flags.contains("--force"),
                    buildDeps: scan.flags.contains("--build-deps"), buildRevdeps: scan.flags.contains("--build-revdeps")
                )
                // A second try would queue a second build.
                return reportingErrors {
                    if scan.flags.contains("--wait") {
                        try JobCtl.Run.queueAndWait(
                            socket: scan.socket, json: scan.json, job: scan.positionals[0], parameters: parameters)
                    } else {
                        try JobCtl.Run.queue(socket: scan.socket, json: scan.json, parameters: parameters)
                    }
                }
            case "progress" where scan.positionals.count == 1:
                guard let id = Int64(scan.positionals[0]), scan.options.isEmpty, scan.flags.isEmpty else { return nil }
                return reportingErrors { try JobCtl.Progress.show(socket: scan.socket, json: scan.json, build: id) }
            case "progress":
                guard scan.positionals.count == 2, let current = Int64(scan.positionals[0]),
                    let total = Int64(scan.positionals[1]), scan.take(["--group", "--status"])
                else { return nil }
                try JobCtl.Progress.report(
                    socket: scan.socket, current: current, total: total, group: scan.options["--group"],
                    status: scan.options["--status"])
            case "log":
                guard !scan.positionals.isEmpty, scan.take(["--level"]) else { return nil }
                try JobCtl.Log.send(
                    socket: scan.socket, level: scan.options["--level"] ?? "info", message: scan.positionals)
            case "skip":
                guard scan.options.isEmpty, scan.flags.isEmpty else { return nil }
                try JobCtl.Skip.skip(socket: scan.socket, reason: scan.positionals)
            case "retval":
                // Its `--json` takes the value's JSON text: the scan would take it for the flag.
                guard let value = RetvalShape(arguments.dropFirst()) else { return nil }
                try JobCtl.Retval.set(socket: value.socket, jsonText: value.jsonText, value: value.text)
            default:
                return nil
            }
        } catch let code as ExitCode {
            return code.rawValue
        } catch {
            return nil
        }
        return 0
    }

    /// The commands of one build id (socket, JSON output, id).
    static let buildCommands: [String: @Sendable (String?, Bool, Int64) throws -> Void] = [
        "build": JobCtl.BuildCommand.show(socket:json:id:), "cancel": JobCtl.Cancel.cancel(socket:json:id:),
        "delete": JobCtl.Delete.delete(socket:json:id:),
    ]

    /// The commands of one job (socket, JSON output, job id).
    static let jobCommands: [String: @Sendable (String?, Bool, String) throws -> Void] = [
        "show": JobCtl.Show.show(socket:json:job:), "suspend": JobCtl.Suspend.suspend(socket:json:job:),
        "resume": JobCtl.Resume.resume(socket:json:job:),
    ]

    /// Runs `body` and returns the exit status, reporting its errors here as ArgumentParser would
    /// (never handing them over: the call was made).
    static func reportingErrors(_ body: () throws -> Void) -> Int32 {
        do {
            try body()
            return 0
        } catch let code as ExitCode {
            return code.rawValue
        } catch {
            JobCtl.exit(withError: error)
        }
    }

    /// `retval`'s two plain shapes, `[--socket PATH] VALUE` and `[--socket PATH] --json TEXT`
    /// (the order the global options are moved to), with nothing else and no value that starts
    /// with `-`; nil for anything else.
    struct RetvalShape {
        var socket: String?
        var text: String?
        var jsonText: String?

        init?(_ arguments: ArraySlice<String>) {
            var rest = arguments
            if rest.first == "--socket" {
                guard rest.count >= 2, !rest[rest.startIndex + 1].hasPrefix("-") else { return nil }
                socket = rest[rest.startIndex + 1]
                rest = rest.dropFirst(2)
            }
            let words = Array(rest)
            if words.count == 1, !words[0].hasPrefix("-") {
                text = words[0]
            } else if words.count == 2, words[0] == "--json", !words[1].hasPrefix("-") {
                jsonText = words[1]
            } else {
                return nil
            }
        }
    }

    /// The arguments after the subcommand, split into the global options, `--NAME VALUE` options
    /// and positionals; nil when any argument starts with `-` and is not such an option (`--`,
    /// `-h`, `--help`, `--flag=value`, unknown flags), so ArgumentParser sees those.
    struct Scan {
        var socket: String?
        var json = false
        var options: [String: String] = [:]
        /// The flags `run` takes; other commands take none. (Arrays, as `valued`: a `Set` of strings
        /// costs a one-shot jobctl more to build than these few comparisons.)
        var flags: [String] = []
        var positionals: [String] = []

        static let valued = ["--socket", "--group", "--status", "--level", "--limit", "--count"]
        static let flagNames = ["--force", "--build-deps", "--build-revdeps", "--wait"]

        init?(_ arguments: [String]) {
            var index = 0
            while index < arguments.count {
                let argument = arguments[index]
                index += 1
                guard argument.hasPrefix("-") else {
                    positionals.append(argument)
                    continue
                }
                if argument == "--json" {
                    json = true
                    continue
                }
                if Self.flagNames.contains(argument) {
                    guard !flags.contains(argument) else { return nil }
                    flags.append(argument)
                    continue
                }
                guard Self.valued.contains(argument), index < arguments.count, !arguments[index].hasPrefix("-"),
                    options[argument] == nil
                else { return nil }
                if argument == "--socket" { socket = arguments[index] } else { options[argument] = arguments[index] }
                index += 1
            }
        }

        /// True when every option given is one of `allowed`, and neither `--json` nor a flag was
        /// given (the in-build helpers take neither).
        func take(_ allowed: [String]) -> Bool {
            !json && flags.isEmpty && options.keys.allSatisfy(allowed.contains)
        }
    }
}
