import Foundation
import JobControl
import JobControlClient

/// Throughput on PostgreSQL with one daemon and with three sharing the database: the same
/// fan-out of N `/bin/true` builds as the SQLite figure, submitted to the first daemon; with three,
/// the others claim builds from the shared queue. On one 2-core machine the three daemons and the
/// server share the same cores, so this measures the cost of coordination more than a gain.
enum ClusterBenchmark {
    /// A fresh schema for one run, and the URL that selects it.
    static func freshSchema(_ url: String) throws -> (storage: PostgresStorage, url: String) {
        let schema = "bench_\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
        let storage = try PostgresStorage(url: url, schema: schema)
        return (storage, url + (url.contains("?") ? "&" : "?") + "options=-csearch_path%3D" + schema)
    }

    /// Lines per second from one build into PostgreSQL (group commit, multi-row inserts).
    static func ingest(url: String, lines: Int, runs: Int) async throws -> [Figure] {
        var rates: [Double] = []
        var stored = 0
        for _ in 0..<runs {
            let (storage, schemaURL) = try freshSchema(url)
            defer { try? storage.uninstall() }
            let daemon = try DaemonHarness(
                config: "jobs:\n  - {id: chatty, command: [seq, '\(lines)']}\n", storageURL: schemaURL, node: "bench")
            defer { daemon.stop() }
            let start = Bench.now()
            try await VarlinkConnection.withConnection(path: daemon.socket) { connection in
                try await connection.callMore("io.jobcontrol.Manager.RunJob", ["job": "chatty"]) { _ in }
            }
            rates.append(Double(lines) / (Bench.now() - start))
            stored = try storage.pruneLogMessages(LogPruneFilter(), dryRun: true)
        }
        return [
            Figure(
                group: "cluster", name: "a build printing \(lines) lines into PostgreSQL (\(stored) rows)",
                value: Bench.median(rates),
                unit: "lines/s", comparison: "one daemon")
        ]
    }

    static func throughput(url: String, builds count: Int, runs: Int) async throws -> [Figure] {
        var yaml = "cluster: {lease: 10s}\njobs:\n"
        for index in 0..<count { yaml += "  - {id: t\(index), command: [/bin/true]}\n" }
        yaml +=
            "  - id: fanout\n    command: [/bin/true]\n    dependencies: [\((0..<count).map { "t\($0)" }.joined(separator: ", "))]\n"
        var figures: [Figure] = []
        var single = 0.0
        for daemons in [1, 3] {
            var rates: [Double] = []
            var spread: [String] = []
            for _ in 0..<runs {
                let (storage, schemaURL) = try freshSchema(url)
                defer { try? storage.uninstall() }
                let harnesses = try (1...daemons).map {
                    try DaemonHarness(config: yaml, storageURL: schemaURL, node: "bench\($0)")
                }
                defer { harnesses.forEach { $0.stop() } }
                let start = Bench.now()
                try await VarlinkConnection.withConnection(path: harnesses[0].socket) { connection in
                    try await connection.callMore(
                        "io.jobcontrol.Manager.RunJob", ["job": "fanout", "build_deps": true]
                    ) { _ in }
                }
                harnesses[0].waitForFinishedBuilds(count + 1, storage: storage)
                rates.append(Double(count + 1) / (Bench.now() - start))
                let builds = try storage.getJobBuilds(
                    jobID: nil, filter: BuildFilter(), order: .ascending, limit: count + 1)
                let byNode = Dictionary(grouping: builds, by: { $0.node ?? "-" }).mapValues(\.count)
                spread.append(byNode.keys.sorted().map { "\($0): \(byNode[$0]!)" }.joined(separator: ", "))
            }
            let rate = Bench.median(rates)
            if daemons == 1 { single = rate }
            let comparison =
                daemons == 1
                ? "PostgreSQL, one daemon"
                : String(
                    format: "%.2f× one daemon; builds per daemon in the last run: %@", rate / single, spread.last ?? "")
            figures.append(
                Figure(
                    group: "cluster",
                    name: "\(count) builds in one request, \(daemons) daemon\(daemons == 1 ? "" : "s") on PostgreSQL",
                    value: rate, unit: "builds/s", comparison: comparison))
        }
        return figures
    }
}
