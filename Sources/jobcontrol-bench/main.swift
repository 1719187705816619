import Foundation

// jobcontrol-bench [storage] [--rows N]: prints throughput figures; see docs/benchmarks.md.
var rows = 100_000
var arguments = Array(CommandLine.arguments.dropFirst())
if let index = arguments.firstIndex(of: "--rows"), index + 1 < arguments.count, let value = Int(arguments[index + 1]) {
    rows = value
    arguments.removeSubrange(index...(index + 1))
}
let suites = arguments.isEmpty ? ["storage"] : arguments
for suite in suites {
    switch suite {
    case "storage": try StorageBenchmark.run(rows: rows)
    default:
        FileHandle.standardError.write(Data("jobcontrol-bench: unknown suite '\(suite)'; available: storage\n".utf8))
        exit(64)
    }
}
