import ArgumentParser
import FoundationEssentials
import Glibc
import JobControlModel
import JobControlProtocol
import JobControlSchedule

extension JobCtl {
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show a job as the daemon loaded it (after includes), secrets masked.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The job.")
        var job: String

        func run() async throws {
            try Self.show(socket: global.socket, json: global.json, job: job)
        }

        /// Prints the job as the daemon loaded it (also reached by ``FastPath``).
        static func show(socket: String?, json: Bool, job id: String) throws {
            let reply = try GlobalOptions.call(socket: socket, "\(Interfaces.manager).GetJob", ["job": .string(id)])
            guard let job = reply["job"] else { throw ClientDecodingError.missing("job") }
            if json {
                printJSON(job)
                return
            }
            func line(_ label: String, _ value: String?) {
                guard let value, !value.isEmpty else { return }
                print(label.padded(to: 18) + value)
            }
            func list(_ key: String) -> String? {
                guard case .array(let values)? = job[key], !values.isEmpty else { return nil }
                return values.map { $0.stringValue ?? $0.jsonText() }.joined(separator: ", ")
            }
            line("Job:", job["id"]?.stringValue)
            line("Title:", job["title"]?.stringValue)
            line(
                "Status:",
                job["status"]?.stringValue.map { status in
                    status + (job["last_build"]?.intValue.map { " (last build \($0))" } ?? "")
                })
            line("Defined at:", job["source"]?.stringValue)
            let function = job["function"]?.stringValue
            line("Function:", function)
            if function == "jobcontrol:shell" || function == "jobcontrol:exec", case .array(let args)? = job["args"],
                let first = args.first
            {
                // `command:` in the file: the script (shell) or the argv (exec) comes first in args.
                let words = args.map { $0.stringValue ?? $0.jsonText() }
                line(
                    "Command:",
                    function == "jobcontrol:shell"
                        ? (first.stringValue ?? first.jsonText()) : words.joined(separator: " "))
                if function == "jobcontrol:shell" { line("Args:", words.dropFirst().joined(separator: ", ")) }
            } else {
                line("Args:", list("args"))
            }
            if case .object(let kwargs)? = job["kwargs"], !kwargs.isEmpty {
                line("Kwargs:", JSONValue.object(kwargs).jsonText())
            }
            line("Dependencies:", list("dependencies"))
            if case .object(let environment)? = job["environment"] {
                for name in environment.keys.sorted() {
                    let value = environment[name]!
                    line(
                        "Environment:",
                        "\(name)=\(value["!secret"]?.stringValue.map { "!secret \($0)" } ?? value.stringValue ?? value.jsonText())"
                    )
                }
            }
            if let python = job["python"], let interpreter = python["interpreter"]?.stringValue {
                line(
                    "Runs:",
                    "Python \(python["module"]?.stringValue ?? "?"):\(python["callable"]?.stringValue ?? "?") in \(interpreter)"
                )
                if case .array(let path)? = python["path"], !path.isEmpty {
                    line("Python path:", path.compactMap(\.stringValue).joined(separator: ":"))
                }
            }
            if case .array(let declared)? = job["parameters"] {
                for parameter in declared {
                    guard let name = parameter["name"]?.stringValue else { continue }
                    var text = "\(name): \(parameter["type"]?.stringValue ?? "string")"
                    if case .array(let choices)? = parameter["choices"] {
                        text += " (\(choices.compactMap(\.stringValue).joined(separator: "|")))"
                    }
                    if parameter["required"] == true { text += ", required" }
                    if let value = parameter["default"] {
                        text +=
                            ", default "
                            + (value["!secret"]?.stringValue.map { "!secret \($0)" } ?? value.stringValue
                                ?? value.jsonText())
                    }
                    if parameter["secret"] == true { text += ", secret" }
                    if let description = parameter["description"]?.stringValue { text += " — \(description)" }
                    line("Parameter:", text)
                }
            }
            line("Working dir:", job["working_directory"]?.stringValue)
            line("User:", job["user"]?.stringValue)
            line("Group:", job["group"]?.stringValue)
            line("Tags:", list("tags"))
            line(
                "Timeout:",
                job["timeout"].flatMap { value -> String? in
                    if case .double(let seconds) = value { return DurationFormatter.text(seconds) }
                    return value.intValue.map { DurationFormatter.text(Double($0)) }
                })
            line("Pool:", job["pool"]?.stringValue)
            if case .object(let resources)? = job["resources"], !resources.isEmpty {
                line(
                    "Resources:",
                    resources.keys.sorted().map { "\($0)=\(resources[$0]?.stringValue ?? "?")" }.joined(separator: " "))
            }
            if job["resources"]?["leftovers"]?.stringValue == "keep" {
                line("Leftovers:", "kept: processes still running when the command exits are not stopped")
            }
            if job["protected"] == true { line("Protected:", "yes (run with --force)") }
            if job["enabled"] == false { line("Enabled:", "no") }
            if let notes = job["notes"]?.stringValue?.trimmingBlanks(newlines: true), !notes.isEmpty {
                print("Notes:")
                notes.split(separator: "\n", omittingEmptySubsequences: false).forEach { print("  \($0)") }
            }
        }
    }
}
