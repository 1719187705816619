import ArgumentParser
import JobControlModel
import JobControlProtocol

extension JobCtl {
    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print the log of a build.")

        /// Records per GetLogs call.
        static let page: Int64 = 5000

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The build id.")
        var id: Int64

        @Option(help: "Only records at this level or above (debug, info, warning, error, critical).")
        var level: String?

        @Flag(
            name: [.customShort("f"), .long],
            help:
                "Keep printing new records as they are stored, until the build ends (with --json: one JSON object per line)."
        )
        var follow = false

        func run() async throws {
            var parameters: [String: JSONValue] = ["build": .int(id)]
            if let level {
                guard let parsed = LogLevel(parsing: level) else {
                    throw ValidationError("unknown level '\(level)'; use debug, info, warning, error or critical")
                }
                parameters["min_level"] = .int(Int64(parsed.rawValue))
            }
            if follow {
                if global.json {
                    try await global.withConnection { connection in
                        try await connection.callMore("\(Interfaces.manager).GetLogs", parameters) { reply in
                            for record in try arrayParameter(reply, "logs") { printJSONLine(record) }
                        }
                    }
                } else {
                    let follower = BuildFollower(
                        socket: global.socket, buildID: id, showProgress: false,
                        minLevel: parameters["min_level"]?.intValue.map(Int.init))
                    _ = try await follower.run()
                }
                return
            }
            // Pages of at most `Self.page` records (fewer when they are long: the daemon keeps every
            // reply well under the message limit and says where to go on with `next_after_id`).
            var collected: [JSONValue] = []
            var printer = LogPrinter()
            try await global.withConnection { connection in
                while true {
                    let reply = try await connection.call(
                        "\(Interfaces.manager).GetLogs",
                        parameters.merging(["limit": .int(Self.page)]) { _, new in new })
                    let values = try arrayParameter(reply, "logs")
                    if global.json {
                        collected += values
                    } else {
                        var text = ""
                        for value in values { text += printer.text(try WireFormat.log(from: value)) }
                        print(text, terminator: "")
                    }
                    if let next = reply["next_after_id"]?.intValue {
                        parameters["after_id"] = .int(next)
                        continue
                    }
                    guard values.count == Int(Self.page), let last = values.last?["id"]?.intValue else { break }
                    parameters["after_id"] = .int(last)
                }
            }
            print(printer.finish(), terminator: "")
            if global.json { printJSON(.array(collected)) }
        }
    }
}
