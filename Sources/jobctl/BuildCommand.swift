import ArgumentParser
import JobControlModel
import JobControlProtocol

extension JobCtl {
    struct BuildCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "build", abstract: "Show one build.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The build id.")
        var id: Int64

        func run() async throws {
            let reply = try global.call("\(Interfaces.manager).GetBuild", ["id": .int(id)])
            let build = try Build(wire: reply["build"])
            if global.json { printJSON(WireFormat.build(build)) } else { printBuildDetails(build) }
        }
    }
}
