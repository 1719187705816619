import Foundation
import JobControl

// jobcontrol-bench [SUITE ...] [--runs N] [--builds N] [--lines N] [--jobs N] [--history N]
//                  [--idle SECONDS] [--rows N] [--json PATH] [--pg URL]
// Suites: compare (throughput, ingest, latency, scale: issue 9's figures next to their peers),
// throughput (only the first of those), web (the dashboard's pages with --history builds, and a
// fan-out followed by 100 SSE clients), notify (a storm of 1,000 failing builds with and without
// notifications), python (a Python function build next to python3 -c pass),
// schedule (lateness, idle cost), storage (storage paths next to raw SQLite), cluster (throughput
// with one and three daemons on PostgreSQL: --pg or $JOBCONTROL_BENCH_PG_URL). Default: compare,
// schedule, and cluster when a PostgreSQL URL is given. Figures are printed as a table and written as JSON. See docs/performance.md.
var arguments = Array(CommandLine.arguments.dropFirst())

@MainActor func option(_ name: String, default value: Int) -> Int {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count,
        let parsed = Int(arguments[index + 1])
    else {
        return value
    }
    arguments.removeSubrange(index...(index + 1))
    return parsed
}

@MainActor func stringOption(_ name: String, default value: String) -> String {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return value }
    let parsed = arguments[index + 1]
    arguments.removeSubrange(index...(index + 1))
    return parsed
}

let runs = option("--runs", default: 3)
let builds = option("--builds", default: 400)
let lines = option("--lines", default: 1_000_000)
let jobs = option("--jobs", default: 1000)
let history = option("--history", default: 1_000_000)
let idle = option("--idle", default: 30)
let rows = option("--rows", default: 100_000)
let jsonPath = stringOption("--json", default: ".build/bench/results.json")
let postgresURL = stringOption("--pg", default: ProcessInfo.processInfo.environment["JOBCONTROL_BENCH_PG_URL"] ?? "")
let suites =
    arguments.isEmpty
    ? ["compare", "notify", "web", "flood", "schedule"] + (postgresURL.isEmpty ? [] : ["cluster"]) : arguments

var figures: [Figure] = []
for suite in suites {
    switch suite {
    case "compare":
        print("comparisons: medians of \(runs) runs")
        figures += try await ComparisonBenchmark.throughput(builds: builds, runs: runs)
        figures += try await ComparisonBenchmark.ingest(lines: lines, runs: max(1, runs - 1))
        figures += try await ComparisonBenchmark.latency(calls: 2000, runs: runs)
        figures += try await ComparisonBenchmark.scale(jobs: 10_000, builds: history, runs: runs)
        figures += try await ComparisonBenchmark.footprint()
        figures += try await PythonBenchmark.run(builds: 20, runs: runs)
        ComparisonBenchmark.printTable(figures)
        print()
    case "python":
        print("python: medians of \(runs) runs of 20 builds")
        let measured = try await PythonBenchmark.run(builds: 20, runs: runs)
        ComparisonBenchmark.printTable(measured)
        figures += measured
        print()
    case "throughput":
        print("throughput: medians of \(runs) runs")
        let measured = try await ComparisonBenchmark.throughput(builds: builds, runs: runs)
        ComparisonBenchmark.printTable(measured)
        figures += measured
        print()
    case "notify":
        print("notifications: medians of \(runs) runs of 1000 failing builds")
        let measured = try await NotificationBenchmark.run(builds: 1000, runs: runs)
        ComparisonBenchmark.printTable(measured)
        figures += measured
        print()
    case "web":
        print("web: medians of \(runs) runs")
        let pages = try await WebBenchmark.render(builds: history, runs: runs)
        ComparisonBenchmark.printTable(pages)
        let streams = try await WebBenchmark.followers(builds: builds, clients: 100, runs: runs)
        ComparisonBenchmark.printTable(streams)
        let measured = pages + streams
        figures += measured
        print()
    case "flood":
        print("flood: medians of \(runs) runs")
        let measured = try await FloodBenchmark.run(clients: 60, runs: runs)
        ComparisonBenchmark.printTable(measured)
        figures += measured
        print()
    case "schedule": try ScheduleBenchmark.run(jobs: jobs, spacingMilliseconds: 20, idleSeconds: idle)
    case "storage": try StorageBenchmark.run(rows: rows)
    case "cluster":
        guard !postgresURL.isEmpty else {
            FileHandle.standardError.write(
                Data(
                    "jobcontrol-bench: the cluster suite needs a PostgreSQL URL (--pg or JOBCONTROL_BENCH_PG_URL); scripts/bench.sh starts a server\n"
                        .utf8))
            exit(64)
        }
        print("cluster: medians of \(runs) runs")
        let cluster =
            try await ClusterBenchmark.throughput(url: postgresURL, builds: builds, runs: runs)
            + ClusterBenchmark.ingest(url: postgresURL, lines: min(lines, 200_000), runs: runs)
        ComparisonBenchmark.printTable(cluster)
        figures += cluster
        print()
    default:
        FileHandle.standardError.write(
            Data(
                "jobcontrol-bench: unknown suite '\(suite)'; available: compare, throughput, notify, python, web, flood, schedule, storage, cluster\n"
                    .utf8))
        exit(64)
    }
}
// The floor's build cgroups were made under a subtree of this process's own (`jobcontrol-<pid>`).
CgroupHost.releaseIfSetUp()
if !figures.isEmpty {
    let url = URL(fileURLWithPath: jsonPath)
    try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try JSONValue.array(figures.map(\.json)).jsonText().write(to: url, atomically: true, encoding: .utf8)
    print("figures written to \(url.path)")
}
