import ArgumentParser
import JobControlModel
import JobControlProtocol

extension JobCtl {
    struct Jobs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "jobs", abstract: "List the configured jobs.")

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try Self.list(socket: global.socket, json: global.json)
        }

        /// Prints the configured jobs (``FastPath`` runs this too).
        static func list(socket: String?, json: Bool) throws {
            let reply = try GlobalOptions.call(socket: socket, "\(Interfaces.manager).ListJobs")
            let jobs = try arrayParameter(reply, "jobs")
            if json {
                printJSON(.array(jobs))
                return
            }
            printTable(
                ["JOB", "STATUS", "LAST", "NEXT RUN", "DEPENDENCIES", "TITLE"],
                jobs.map { job in
                    let dependencies: [String]
                    if case .array(let values)? = job["dependencies"] {
                        dependencies = values.compactMap(\.stringValue)
                    } else {
                        dependencies = []
                    }
                    return [
                        job["id"]?.stringValue ?? "?", job["status"]?.stringValue ?? "?",
                        job["last_build"]?.intValue.map(String.init) ?? "-", nextRunText(job),
                        dependencies.isEmpty ? "-" : dependencies.joined(separator: ","),
                        job["title"]?.stringValue ?? "",
                    ]
                })
        }
    }
}

/// `2026-11-29 10:00:00`, `suspended`, or `-`, with a warning mark when the latest scheduled
/// occurrence was missed, skipped or failed.
func nextRunText(_ job: JSONValue) -> String {
    guard case .object = job["schedule"] else { return "-" }
    if job["suspended"]?.boolValue == true { return "suspended" }
    var text = displayTime(WireFormat.date(job["next_run"]))
    if let outcome = job["last_occurrence"]?["outcome"]?.stringValue, ["missed", "skipped", "failed"].contains(outcome)
    {
        text += " (last \(outcome))"
    }
    return text
}
