import ArgumentParser
import JobControlModel
import JobControlProtocol

extension JobCtl {
    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "prune",
            abstract: "Apply the retention policies now (log_retention, build_retention).",
            discussion: "The daemon also applies them by itself every hour.")

        @OptionGroup var global: GlobalOptions

        @Flag(help: "Only report what would be deleted.")
        var dryRun = false

        func run() async throws {
            let reply = try global.call("\(Interfaces.manager).Prune", ["dry_run": .bool(dryRun)])
            if global.json {
                printJSON(.object(reply))
                return
            }
            let builds = (try? arrayParameter(reply, "builds")) ?? []
            let records = reply["log_records"]?.intValue ?? 0
            let verb = dryRun ? "would delete" : "deleted"
            print("\(verb) \(records) log records and \(builds.count) builds")
            if !builds.isEmpty {
                print("builds: " + builds.compactMap { $0.intValue.map(String.init) }.joined(separator: " "))
            }
        }
    }
}
