import Foundation
import JobControl

/// A crowd of web clients that each ask for a long log (three requests, pipelined) and never
/// read the answers: what it costs `jobctl status` and the daemon's memory, next to the same
/// daemon without them. Before long reads had a thread of their own (LongReads) and log replies
/// were 256 KiB, sixty such clients held `jobctl status` for 4–5.6 s and the daemon at 450 MB.
enum FloodBenchmark {
    static func run(clients: Int, runs: Int) async throws -> [Figure] {
        let port = WebBenchmark.freePort()
        let daemon = try DaemonHarness(
            config: "http: {listen: '127.0.0.1:\(port)', anonymous: read}\n"
                + "jobs:\n  - {id: long, command: 'seq 1 50000'}\n")
        defer { daemon.stop() }
        let storage = try SQLiteStorage(path: daemon.database)
        _ = try await daemon.call("RunJob", ["job": "long"])
        daemon.waitForFinishedBuilds(1, storage: storage)
        let idleRSS = Double(daemon.rssKilobytes) / 1024
        var quiet: [Double] = []
        var flooded: [Double] = []
        var peakRSS = 0.0
        for _ in 0..<runs {
            quiet.append(statusLatencies(socket: daemon.socket, seconds: 2).max() ?? .nan)
            let sockets = (0..<clients).compactMap { _ in askAndNeverRead(port: port, requests: 3) }
            flooded.append(statusLatencies(socket: daemon.socket, seconds: 4).max() ?? .nan)
            peakRSS = max(peakRSS, Double(daemon.rssKilobytes) / 1024)
            for descriptor in sockets { close(descriptor) }
            // The daemon's web connections end (their 10 s limit, or the close just now) before
            // the next round.
            usleep(500_000)
        }
        return [
            Figure(
                group: "flood",
                name: "slowest jobctl status, \(clients) web clients not reading a long log",
                value: Bench.median(flooded), unit: "ms",
                comparison: String(format: "the slowest of 4 s of calls; %.1f ms without them", Bench.median(quiet))),
            Figure(
                group: "flood", name: "the daemon's RSS during that flood", value: peakRSS, unit: "MB",
                comparison: String(format: "%.1f MB before it", idleRSS)),
        ]
    }

    /// Milliseconds of each `jobctl status` run one after another for `seconds`.
    static func statusLatencies(socket: String, seconds: Double) -> [Double] {
        var latencies: [Double] = []
        let end = Bench.now() + seconds
        while Bench.now() < end {
            let start = Bench.now()
            Bench.run([ComparisonBenchmark.jobctl, "--socket", socket, "status"])
            latencies.append((Bench.now() - start) * 1000)
            usleep(50_000)
        }
        return latencies
    }

    /// A TCP connection that sends `requests` GETs of the log at once and reads nothing.
    static func askAndNeverRead(port: Int, requests: Int) -> Int32? {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(descriptor)
            return nil
        }
        let request = String(
            repeating: "GET /api/v1/GetLogs?build=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", count: requests)
        _ = request.withCString { send(descriptor, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        return descriptor
    }
}
