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
            try Self.show(socket: global.socket, json: global.json, id: id)
        }

        /// Prints build `id` (``FastPath`` runs this too).
        static func show(socket: String?, json: Bool, id: Int64) throws {
            let reply = try GlobalOptions.call(socket: socket, "\(Interfaces.manager).GetBuild", ["id": .int(id)])
            let build = try Build(wire: reply["build"])
            if json { printJSON(WireFormat.build(build)) } else { printBuildDetails(build) }
        }
    }
}
