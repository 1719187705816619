import Foundation

// jobcontrol-bench [storage] [schedule] [--rows N] [--jobs N] [--idle SECONDS]: prints figures;
// see docs/benchmarks.md. `schedule` starts the jobcontrold built beside it.
var rows = 100_000
var arguments = Array(CommandLine.arguments.dropFirst())
if let index = arguments.firstIndex(of: "--rows"), index + 1 < arguments.count, let value = Int(arguments[index + 1]) {
    rows = value
    arguments.removeSubrange(index...(index + 1))
}
@MainActor func option(_ name: String, default value: Int) -> Int {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let parsed = Int(arguments[index + 1]) else {
        return value
    }
    arguments.removeSubrange(index...(index + 1))
    return parsed
}
let jobs = option("--jobs", default: 1000)
let idle = option("--idle", default: 30)
let suites = arguments.isEmpty ? ["storage", "schedule"] : arguments
for suite in suites {
    switch suite {
    case "storage": try StorageBenchmark.run(rows: rows)
    case "schedule": try ScheduleBenchmark.run(jobs: jobs, spacingMilliseconds: 20, idleSeconds: idle)
    default:
        FileHandle.standardError.write(Data("jobcontrol-bench: unknown suite '\(suite)'; available: storage, schedule\n".utf8))
        exit(64)
    }
}
