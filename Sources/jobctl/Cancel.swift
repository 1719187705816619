import ArgumentParser
import JobControlModel
import JobControlProtocol

extension JobCtl {
    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cancel",
            abstract: "Cancel a queued or running build (its processes get SIGTERM, then SIGKILL).")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The build id.")
        var id: Int64

        func run() async throws {
            try Self.cancel(socket: global.socket, json: global.json, id: id)
        }

        /// Asks to cancel build `id` (``FastPath`` runs this too).
        static func cancel(socket: String?, json: Bool, id: Int64) throws {
            _ = try GlobalOptions.call(socket: socket, "\(Interfaces.manager).CancelBuild", ["id": .int(id)])
            if !json { print("build \(id): cancel requested") }
        }
    }
}
