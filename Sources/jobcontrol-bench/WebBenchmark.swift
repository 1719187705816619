import Foundation
import JobControl
import JobControlClient

/// The dashboard's figures (issue 18): the overview and a job page rendered with a million
/// builds in history (aim < 50 ms), and a fan-out's throughput with 100 Server-Sent Event
/// clients following a build's log next to the same fan-out without them (aim: ≤ 10 % slower).
/// Pages are timed by curl's own `time_total` (the request, not curl's start-up).
enum WebBenchmark {
    static func freePort() -> Int {
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(probe) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(probe, pointer, length) == 0 && getsockname(probe, pointer, &length) == 0
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Milliseconds curl reports for one GET (`time_total`).
    static func fetch(_ url: String) -> Double {
        let output = ComparisonBenchmark.output(
            ["/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", url], environment: [:])
        let parts = output.split(separator: " ")
        guard parts.count == 2, parts[0] == "200", let seconds = Double(parts[1]) else {
            FileHandle.standardError.write(Data("jobcontrol-bench: GET \(url) answered \(output)\n".utf8))
            return .nan
        }
        return seconds * 1000
    }

    static func render(builds: Int, runs: Int) async throws -> [Figure] {
        // 100 jobs in chains of ten (a graph on every job page), one build in 50 failed.
        var yaml = "jobs:\n"
        for index in 0..<100 {
            let dependency = index % 10 == 0 ? "" : ", dependencies: [job\(index - 1)]"
            yaml +=
                "  - {id: job\(index), command: [/bin/true]\(dependency)\(index % 7 == 0 ? ", schedule: '*:0/15'" : "")}\n"
        }
        let history = try await HistoryDatabase(name: "web", builds: builds, jobs: 100, failEvery: 50)
        defer { history.remove() }
        let port = freePort()
        let daemon = try DaemonHarness(
            config: "http: {listen: '127.0.0.1:\(port)', anonymous: read}\n" + yaml, database: history.path)
        defer { daemon.stop() }
        let base = "http://127.0.0.1:\(port)"
        for _ in 0..<200 where fetch(base + "/metrics").isNaN { usleep(20_000) }
        var figures: [Figure] = []
        for (name, page) in [
            ("overview", "/"), ("job page", "/jobs/job55"), ("build page", "/builds/\(builds / 2)"),
            ("jobs page", "/jobs"),
        ] {
            _ = fetch(base + page)  // warm
            let times = (0..<(runs * 10)).map { _ in fetch(base + page) }
            let aim = name == "overview" || name == "job page" ? " (aim < 50 ms)" : ""
            figures.append(
                Figure(
                    group: "web", name: "\(name) with \(builds) builds", value: Bench.median(times), unit: "ms",
                    comparison: "median of \(times.count) GETs\(aim)"))
        }
        return figures
    }

    /// A fan-out of `count` builds with a chatty build running, with and without 100 SSE
    /// clients following its log (interleaved runs, one daemon per run).
    static func followers(builds count: Int, clients: Int, runs: Int) async throws -> [Figure] {
        var yaml = "jobs:\n"
        for index in 0..<count { yaml += "  - {id: t\(index), command: [/bin/true]}\n" }
        yaml +=
            "  - id: fanout\n    command: [/bin/true]\n    dependencies: [\((0..<count).map { "t\($0)" }.joined(separator: ", "))]\n"
        yaml += "  - {id: chatty, command: 'while true; do echo line $(date +%s%N); sleep 0.05; done'}\n"
        var quiet: [Double] = []
        var followed: [Double] = []
        for _ in 0..<runs {
            for withClients in [false, true] {
                let port = freePort()
                let daemon = try DaemonHarness(
                    config: "http: {listen: '127.0.0.1:\(port)', anonymous: read}\n" + yaml, workers: 3)
                defer { daemon.stop() }
                let storage = try SQLiteStorage(path: daemon.database)
                let chatty = try await daemon.call("RunJob", ["job": "chatty"])["build"]?["id"]?.intValue ?? 0
                var curls: [Process] = []
                if withClients {
                    for _ in 0..<clients {
                        let curl = Process()
                        curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
                        curl.arguments = ["-sN", "http://127.0.0.1:\(port)/api/v1/GetLogs?build=\(chatty)&follow=1"]
                        curl.standardOutput = FileHandle.nullDevice
                        curl.standardError = FileHandle.nullDevice
                        try curl.run()
                        curls.append(curl)
                    }
                    // Every client connected and streaming before the fan-out starts.
                    for _ in 0..<500 {
                        let established = ComparisonBenchmark.output(
                            ["/bin/sh", "-c", "ss -tnH state established '( sport = :\(port) )' | wc -l"],
                            environment: [:])
                        if Int(established.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 >= clients { break }
                        usleep(20_000)
                    }
                }
                let start = Bench.now()
                try await VarlinkConnection.withConnection(path: daemon.socket) { connection in
                    try await connection.callMore(
                        "io.jobcontrol.Manager.RunJob", ["job": "fanout", "build_deps": true]
                    ) { _ in }
                }
                daemon.waitForFinishedBuilds(count + 1, storage: storage)
                let rate = Double(count + 1) / (Bench.now() - start)
                if withClients { followed.append(rate) } else { quiet.append(rate) }
                // SIGKILL: children of this process may have SIGTERM blocked.
                for curl in curls { kill(curl.processIdentifier, SIGKILL) }
                for curl in curls { curl.waitUntilExit() }
                _ = try? await daemon.call("CancelBuild", ["id": .int(chatty)])
            }
        }
        let without = Bench.median(quiet)
        let with = Bench.median(followed)
        return [
            Figure(
                group: "web", name: "fan-out of \(count + 1), a log-writing build running", value: without,
                unit: "builds/s", comparison: "no SSE client"),
            Figure(
                group: "web", name: "the same with \(clients) SSE clients following its log", value: with,
                unit: "builds/s",
                comparison: String(format: "%.1f %% slower (aim ≤ 10 %%)", (1 - with / without) * 100)),
        ]
    }
}
