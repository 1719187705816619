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
            try Self.printLog(socket: global.socket, json: global.json, parameters: parameters)
        }

        /// Prints a build's stored log once (``FastPath`` runs this too), in pages of at most
        /// `page` records, one blocking call each (fewer when they are long: the daemon keeps every
        /// reply well under the message limit and says where to go on with `next_after_id`).
        static func printLog(socket: String?, json: Bool, parameters: [String: JSONValue]) throws {
            var parameters = parameters
            var collected: [JSONValue] = []
            var printer = LogPrinter()
            while true {
                let reply = try GlobalOptions.call(
                    socket: socket, "\(Interfaces.manager).GetLogs",
                    parameters.merging(["limit": .int(page)]) { _, new in new })
                let values = try arrayParameter(reply, "logs")
                if json {
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
                guard values.count == Int(page), let last = values.last?["id"]?.intValue else { break }
                parameters["after_id"] = .int(last)
            }
            print(printer.finish(), terminator: "")
            if json { printJSON(.array(collected)) }
        }
    }
}
