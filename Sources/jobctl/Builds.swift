import ArgumentParser
import JobControlModel
import JobControlProtocol

extension JobCtl {
    struct Builds: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "builds", abstract: "List builds, newest first.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "Only builds of this job.")
        var job: String?

        @Option(help: "How many builds at most (1 to 10000).")
        var limit: Int = 20

        static let limits = 1...10_000

        func validate() throws {
            guard Self.limits.contains(limit) else { throw ValidationError("--limit must be 1 to 10000") }
        }

        func run() async throws {
            try Self.list(socket: global.socket, json: global.json, job: job, limit: limit)
        }

        /// How much of a build's result (its exception's message, or its return value) a row
        /// shows; `jobctl build ID` and `--json` show all of it.
        static let resultWidth = 100

        /// Prints the newest `limit` builds, of `job` or of all (``FastPath`` runs this too).
        static func list(socket: String?, json: Bool, job: String?, limit: Int) throws {
            var parameters: [String: JSONValue] = ["limit": .int(Int64(limit))]
            if let job { parameters["job"] = .string(job) }
            let reply = try GlobalOptions.call(socket: socket, "\(Interfaces.manager).ListBuilds", parameters)
            let values = try arrayParameter(reply, "builds")
            if json {
                printJSON(.array(values))
                return
            }
            let builds = try values.map { try Build(wire: $0) }
            // Where several daemons share the database, which one ran each build.
            let clustered = builds.contains { $0.node != nil }
            printTable(
                ["ID", "JOB", "STATE", "STARTED", "DURATION"] + (clustered ? ["NODE"] : []) + ["RESULT"],
                builds.map { build in
                    [
                        String(build.id), build.jobID, build.state.rawValue, displayTime(build.startTime),
                        displayDuration(from: build.startTime, to: build.endTime),
                    ] + (clustered ? [build.node ?? "-"] : []) + [
                        (build.exception?["message"]?.stringValue ?? build.retval?.jsonText() ?? "")
                            .inOneLine(limit: resultWidth)
                    ]
                })
        }
    }
}
