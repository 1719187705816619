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
            _ = try global.call("\(Interfaces.manager).CancelBuild", ["id": .int(id)])
            if !global.json { print("build \(id): cancel requested") }
        }
    }
}
