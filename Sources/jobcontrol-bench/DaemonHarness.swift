import Foundation
import JobControl
import JobControlClient
import JobControlProtocol

/// A release `jobcontrold` (the one built beside this benchmark) on a temporary directory.
final class DaemonHarness {
    let directory: String
    let socket: String
    let database: String
    let process = Process()

    static var binDirectory: URL {
        URL(
            fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                ?? CommandLine.arguments[0]
        )
        .deletingLastPathComponent()
    }

    /// `storageURL` replaces the SQLite file (a PostgreSQL database); `node` names the daemon in a cluster.
    init(
        config: String, database existing: String? = nil, workers: Int = 2, storageURL: String? = nil,
        node: String? = nil
    ) throws {
        directory =
            FileManager.default.temporaryDirectory.appendingPathComponent("jc-bench-\(UUID().uuidString.prefix(8))")
            .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        socket = directory + "/sock"
        database = existing ?? directory + "/db.sqlite3"
        try ("workers: \(workers)\n" + config).write(toFile: directory + "/c.yaml", atomically: true, encoding: .utf8)
        process.executableURL = Self.binDirectory.appendingPathComponent("jobcontrold")
        process.arguments =
            [
                "--config", directory + "/c.yaml", "--storage", storageURL ?? ("sqlite://" + database), "--socket",
                socket, "--log-level", "error",
            ]
            + (node.map { ["--node", $0] } ?? [])
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "NOTIFY_SOCKET")
        process.environment = environment
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        for _ in 0..<1000 where !FileManager.default.fileExists(atPath: socket) { usleep(10_000) }
        usleep(50_000)
    }

    func call(_ method: String, _ parameters: [String: JSONValue] = [:]) async throws -> [String: JSONValue] {
        try await VarlinkConnection.withConnection(path: socket) {
            try await $0.call("io.jobcontrol.Manager." + method, parameters)
        }
    }

    /// Waits until `count` builds have finished (polling storage, 20 ms).
    func waitForFinishedBuilds(_ count: Int, storage: any Storage) {
        while ((try? storage.getJobBuilds(
            jobID: nil, filter: BuildFilter(finished: true), order: .descending, limit: count
        ).count) ?? 0) < count {
            usleep(20_000)
        }
    }

    var rssKilobytes: Int { Bench.rssKilobytes(process.processIdentifier) }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

enum Bench {
    static func rssKilobytes(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        return status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true)[1]) } ?? 0
    }

    /// CPU seconds (user + system, all threads) of `pid` so far, from /proc/PID/stat.
    static func cpuSeconds(_ pid: Int32) -> Double {
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        // Fields after the parenthesized command name: state is field 3, utime 14, stime 15.
        guard let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The whole machine's CPU time so far, in seconds summed over CPUs, from /proc/stat: busy
    /// (every process, kernel threads, interrupts) and idle (idle and I/O wait).
    static func machineSeconds() -> (busy: Double, idle: Double) {
        let text = (try? String(contentsOfFile: "/proc/stat", encoding: .utf8)) ?? ""
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return (0, 0) }
        // user nice system idle iowait irq softirq steal …
        let ticks = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard ticks.count >= 8 else { return (0, 0) }
        let hertz = Double(sysconf(Int32(_SC_CLK_TCK)))
        let idle = ticks[3] + ticks[4]
        let busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]
        return (busy / hertz, idle / hertz)
    }

    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }

    /// Runs `argv` to its end with output discarded; returns its exit status.
    @discardableResult
    static func run(_ argv: [String], environment: [String: String] = [:]) -> Int32 {
        var pid: pid_t = 0
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let arguments = argv.map { strdup($0) } + [nil]
        defer { arguments.forEach { free($0) } }
        let merged =
            ProcessInfo.processInfo.environment.merging(environment) { _, new in new }.map {
                strdup("\($0.key)=\($0.value)")
            } + [nil]
        defer { merged.forEach { free($0) } }
        guard posix_spawn(&pid, argv[0], &actions, nil, arguments, merged) == 0 else { return -1 }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return status
    }
}

/// One figure: a name, a value, its unit, and what it is compared with.
struct Figure {
    var group: String
    var name: String
    var value: Double
    var unit: String
    var comparison: String = ""

    var json: JSONValue {
        [
            "group": .string(group), "name": .string(name), "value": .double(value), "unit": .string(unit),
            "comparison": .string(comparison),
        ]
    }
}
