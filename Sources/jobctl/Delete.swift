import ArgumentParser
import JobControlModel
import JobControlProtocol

extension JobCtl {
    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "delete",
            abstract: "Delete a finished build with its progress and log (after its job's cleanup function, if any).")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The build id.")
        var id: Int64

        func run() async throws {
            try Self.delete(socket: global.socket, json: global.json, id: id)
        }

        /// Deletes the build (also reached by ``FastPath``).
        static func delete(socket: String?, json: Bool, id: Int64) throws {
            _ = try GlobalOptions.call(socket: socket, "\(Interfaces.manager).DeleteBuild", ["id": .int(id)])
            if !json { print("build \(id) deleted") }
        }
    }
}
