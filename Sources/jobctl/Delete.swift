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
            _ = try global.call("\(Interfaces.manager).DeleteBuild", ["id": .int(id)])
            if !global.json { print("build \(id) deleted") }
        }
    }
}
