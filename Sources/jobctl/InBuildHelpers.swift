import ArgumentParser
import FoundationEssentials
import Glibc
import JobControlModel
import JobControlProtocol

/// The in-build helpers: run inside a build, they act on that build only, with the token the
/// daemon put in its environment.
struct BuildToken {
    static func fromEnvironment() throws -> String {
        guard let token = environment("JOBCONTROL_TOKEN"), !token.isEmpty else {
            throw ValidationError(
                "JOBCONTROL_TOKEN is not set: this command works only inside a build run by jobcontrold")
        }
        return token
    }
}

extension JobCtl {
    struct Progress: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "progress",
            abstract: "Show a build's progress (ID), or, inside a build, report progress (CURRENT TOTAL).",
            discussion: """
                jobctl progress 42                      the progress tree of build 42
                jobctl progress 3 10 --group download::file-3 --status "fetching"   (inside a build)
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "A build id, or CURRENT TOTAL inside a build.")
        var values: [Int64]

        @Option(help: "The progress group, nested with '::' (inside a build).")
        var group: String?

        @Option(help: "A line describing the current state (inside a build).")
        var status: String?

        @Flag(
            name: [.customShort("w"), .long],
            help:
                "Redraw the tree as it changes until the build ends (plain lines when not on a terminal; with --json, one tree per line)."
        )
        var watch = false

        /// Inside a build: reports CURRENT of TOTAL (also reached by ``FastPath``).
        static func report(socket: String?, current: Int64, total: Int64, group: String?, status: String?) throws {
            var parameters: [String: JSONValue] = [
                "token": .string(try BuildToken.fromEnvironment()), "current": .int(current), "total": .int(total),
            ]
            if let group { parameters["group"] = .string(group) }
            if let status { parameters["status"] = .string(status) }
            _ = try GlobalOptions.call(socket: socket, "\(Interfaces.build).ReportProgress", parameters)
        }

        func validate() throws {
            guard values.count == 1 || values.count == 2 else {
                throw ValidationError("give a build id, or CURRENT TOTAL inside a build")
            }
        }

        func run() async throws {
            if values.count == 2 {
                try Self.report(
                    socket: global.socket, current: values[0], total: values[1], group: group, status: status)
                return
            }
            if watch {
                if global.json {
                    try await global.withConnection { connection in
                        try await connection.callMore("\(Interfaces.manager).GetProgress", ["build": .int(values[0])]) {
                            reply in
                            printJSONLine(.array(try arrayParameter(reply, "groups")))
                        }
                    }
                } else {
                    let build = try await BuildFollower(socket: global.socket, buildID: values[0], showLogs: false)
                        .run()
                    print(buildSummary(build))
                }
                return
            }
            try Self.show(socket: global.socket, json: global.json, build: values[0])
        }

        /// Prints the build's progress tree once (also reached by ``FastPath``).
        static func show(socket: String?, json: Bool, build: Int64) throws {
            let reply = try GlobalOptions.call(
                socket: socket, "\(Interfaces.manager).GetProgress", ["build": .int(build)])
            let groups = try arrayParameter(reply, "groups")
            if json {
                printJSON(.array(groups))
                return
            }
            if groups.isEmpty { print("build \(build) reported no progress") }
            for group in groups {
                let name = group["group"]?.stringValue ?? ""
                let depth = name.isEmpty ? 0 : name.split(separator: "::", omittingEmptySubsequences: false).count
                let label =
                    name.isEmpty
                    ? "(build)"
                    : String(name.split(separator: "::", omittingEmptySubsequences: false).last ?? Substring(name))
                        .inOneLine()
                let current = group["current"]?.intValue ?? 0
                let total = group["total"]?.intValue ?? 0
                let indent = String(repeating: "  ", count: depth)
                var line = indent + label.padded(to: max(1, 24 - indent.count))
                line += " " + progressBar(current: current, total: total, width: 20) + " \(current)/\(total)"
                if let status = group["status"]?.stringValue { line += "  \(status.inOneLine())" }
                print(line)
            }
        }
    }

    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "log", abstract: "Inside a build: add a line to its log.")

        @OptionGroup var global: GlobalOptions

        @Option(help: "debug, info, warning, error or critical.")
        var level: String = "info"

        @Argument(help: "The message.")
        var message: [String]

        func run() async throws {
            try Self.send(socket: global.socket, level: level, message: message)
        }

        /// Adds a line to the build's log (also reached by ``FastPath``).
        static func send(socket: String?, level: String, message: [String]) throws {
            guard let parsed = LogLevel(parsing: level) else {
                throw ValidationError("unknown level '\(level)'; use debug, info, warning, error or critical")
            }
            let parameters: [String: JSONValue] = [
                "token": .string(try BuildToken.fromEnvironment()), "message": .string(message.joined(separator: " ")),
                "level": .int(Int64(parsed.rawValue)),
            ]
            _ = try GlobalOptions.call(socket: socket, "\(Interfaces.build).Log", parameters)
        }
    }

    struct Retval: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "retval",
            abstract: "Inside a build: set its return value: VALUE as a string, or --json TEXT for any JSON value.")

        @Option(help: "The daemon's control socket (default: $JOBCONTROL_SOCKET).")
        var socket: String?

        @Option(name: .customLong("json"), help: "The value as JSON text (a number, list, object…).")
        var jsonText: String?

        @Argument(help: "The value, as a string.")
        var value: String?

        func validate() throws {
            guard (jsonText == nil) != (value == nil) else {
                throw ValidationError("give VALUE or --json TEXT, one of them")
            }
        }

        func run() async throws {
            try Self.set(socket: socket, jsonText: jsonText, value: value)
        }

        /// Sets the build's return value (also reached by ``FastPath``).
        static func set(socket: String?, jsonText: String?, value: String?) throws {
            let parsed: JSONValue
            if let jsonText {
                do { parsed = try JSONValue.parse(jsonText) } catch { throw ValidationError("--json: \(error)") }
            } else {
                parsed = .string(value ?? "")
            }
            let parameters: [String: JSONValue] = ["token": .string(try BuildToken.fromEnvironment()), "value": parsed]
            _ = try GlobalOptions.call(socket: socket, "\(Interfaces.build).SetRetval", parameters)
        }
    }

    struct Skip: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "skip",
            abstract: "Inside a build: end it SKIPPED (when it exits successfully) instead of SUCCESSFUL.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "Why.")
        var reason: [String] = []

        func run() async throws {
            try Self.skip(socket: global.socket, reason: reason)
        }

        /// Marks the build to end SKIPPED (also reached by ``FastPath``).
        static func skip(socket: String?, reason: [String]) throws {
            let parameters: [String: JSONValue] = [
                "token": .string(try BuildToken.fromEnvironment()), "reason": .string(reason.joined(separator: " ")),
            ]
            _ = try GlobalOptions.call(socket: socket, "\(Interfaces.build).Skip", parameters)
        }
    }
}

/// `[#######-------------]`, or dashes when the total is unknown (0).
func progressBar(current: Int64, total: Int64, width: Int) -> String {
    guard total > 0 else { return "[" + String(repeating: "-", count: width) + "]" }
    let filled = Int((Double(min(current, total)) / Double(total) * Double(width)).rounded())
    return "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "]"
}
