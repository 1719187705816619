import ArgumentParser
import Foundation
import JobControl
import JobControlProtocol

extension JobCtl {
    struct CheckConfig: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check-config",
            abstract: "Validate a configuration file offline (no daemon needed).",
            discussion: "Exit status 0 when valid, 78 (EX_CONFIG) with every problem listed when not.")

        @Flag(help: "Print JSON instead of text.")
        var json = false

        @Argument(help: "The configuration file.")
        var file: String

        func run() async throws {
            do {
                let config = try ConfigLoader.load(file: file)
                if json {
                    printJSON([
                        "valid": true, "file": .string(file), "jobs": .int(Int64(config.jobs.count)), "errors": [],
                    ])
                } else {
                    print("\(file): valid, \(config.jobs.count) jobs")
                }
            } catch {
                if json {
                    printJSON([
                        "valid": false, "file": .string(file),
                        "errors": .array(
                            error.diagnostics.map { diagnostic in
                                [
                                    "file": .string(diagnostic.location.file),
                                    "line": .int(Int64(diagnostic.location.line)),
                                    "column": .int(Int64(diagnostic.location.column)),
                                    "message": .string(diagnostic.message),
                                ]
                            }),
                    ])
                } else {
                    print(error.description)
                    printError("\(file): \(error.diagnostics.count) problems")
                }
                throw ExitCode(78)
            }
        }
    }
}
