import ArgumentParser
import JobControl
import JobControlProtocol

extension JobCtl {
    struct Jobs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the configured jobs.")

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let reply = try await global.withConnection { try await $0.call("\(Interfaces.manager).ListJobs") }
            let jobs = try arrayParameter(reply, "jobs")
            if global.json {
                printJSON(.array(jobs))
                return
            }
            printTable(
                ["JOB", "STATUS", "LAST", "DEPENDENCIES", "TITLE"],
                jobs.map { job in
                    let dependencies: [String]
                    if case .array(let values)? = job["dependencies"] { dependencies = values.compactMap(\.stringValue) } else { dependencies = [] }
                    return [
                        job["id"]?.stringValue ?? "?", job["status"]?.stringValue ?? "?",
                        job["last_build"]?.intValue.map(String.init) ?? "-",
                        dependencies.isEmpty ? "-" : dependencies.joined(separator: ","), job["title"]?.stringValue ?? "",
                    ]
                })
        }
    }
}
