import Foundation
import JobControl

/// Scheduling lateness and idle cost of a real `jobcontrold` with many scheduled jobs.
///
/// Lateness: N jobs, each due once at its own instant, 20 ms apart (calendar expressions with
/// fractional seconds, in UTC); for each build, its start (the build row turning RUNNING, just
/// before the process is spawned) minus its due time. Idle: once all have run, nothing is due
/// for a day; the daemon's CPU time, context switches and RSS over an idle window.
enum ScheduleBenchmark {
    static func run(jobs count: Int, spacingMilliseconds: Int, idleSeconds: Int) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jc-bench-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = directory + "/db.sqlite3"
        let socket = directory + "/sock"

        // The first due time leaves the daemon a few seconds to start.
        let first = (ScheduleTime.currentMicroseconds() / 1_000_000 + 6) * 1_000_000
        var dues: [String: Int64] = [:]
        var yaml = "workers: 4\njobs:\n"
        for index in 0..<count {
            let due = first + Int64(index * spacingMilliseconds * 1000)
            let id = "job\(index)"
            dues[id] = due
            let time = CivilClock(zone: .utc).civilTime(at: due / 1_000_000)
            let expression =
                "*-*-* \(pad2(time.hour)):\(pad2(time.minute)):\(pad2(time.second)).\(String(format: "%06d", Int(due % 1_000_000))) UTC"
            yaml += "  - {id: \(id), command: [/bin/true], schedule: '\(expression)'}\n"
        }
        try yaml.write(toFile: directory + "/jobcontrol.yaml", atomically: true, encoding: .utf8)

        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("jobcontrold")
        daemon.arguments = [
            "--config", directory + "/jobcontrol.yaml", "--storage", "sqlite://" + database, "--socket", socket,
            "--log-level", "warning",
        ]
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "NOTIFY_SOCKET")
        daemon.environment = environment
        daemon.standardError = FileHandle.nullDevice
        try daemon.run()
        defer {
            if daemon.isRunning {
                daemon.terminate()
                daemon.waitUntilExit()
            }
        }
        let storage = try StorageFactory.open(url: "sqlite://" + database)
        print(
            "scheduling: \(count) jobs due \(spacingMilliseconds) ms apart, from \(ScheduleTime.display(first, zone: .utc))"
        )

        // Wait for every build to end (bounded: the window plus a minute).
        let deadline = Date().addingTimeInterval(Double(count * spacingMilliseconds) / 1000 + 66)
        var builds: [Build] = []
        while Date() < deadline {
            Thread.sleep(forTimeInterval: 0.5)
            builds =
                (try? storage.getJobBuilds(
                    jobID: nil, filter: BuildFilter(finished: true), order: .ascending, limit: count * 2)) ?? []
            if builds.count >= count { break }
        }
        guard builds.count >= count else {
            print("  only \(builds.count) of \(count) builds finished in time")
            exit(1)
        }
        let lateness = builds.compactMap { build -> Double? in
            guard let start = build.startTime, let due = dues[build.jobID] else { return nil }
            return start.timeIntervalSince1970 * 1000 - Double(due) / 1000
        }.sorted()
        func percentile(_ p: Double) -> Double { lateness[min(lateness.count - 1, Int(Double(lateness.count) * p))] }
        let occurrences = try storage.occurrences(jobID: nil, outcome: nil, limit: count * 2)
        print(
            "  builds: \(builds.count), occurrences: \(occurrences.count) (\(occurrences.filter { $0.outcome == .started }.count) started)"
        )
        print(
            String(
                format: "  lateness due → build start: p50 %.2f ms, p99 %.2f ms, max %.2f ms (aim: p99 < 10 ms)",
                percentile(0.5), percentile(0.99), lateness.last ?? 0))

        // Idle: nothing due for a day.
        let pid = daemon.processIdentifier
        let before = try sample(pid)
        Thread.sleep(forTimeInterval: Double(idleSeconds))
        let after = try sample(pid)
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let cpuPerMinute = Double(after.cpuTicks - before.cpuTicks) / ticks * 60 / Double(idleSeconds)
        let switches = after.contextSwitches.reduce(0) { total, entry in
            total + entry.value - (before.contextSwitches[entry.key] ?? 0)
        }
        let switchesPerMinute = Double(switches) * 60 / Double(idleSeconds)
        print(
            String(
                format:
                    "  idle (%d s, %d jobs scheduled): CPU %.3f s per minute, %.1f context switches per minute, RSS %.1f MB",
                idleSeconds, count, cpuPerMinute, switchesPerMinute, Double(after.rssKB) / 1024))
    }

    struct Sample {
        var cpuTicks: Int
        /// Per thread: threads that come and go between samples must not count.
        var contextSwitches: [String: Int]
        var rssKB: Int
    }

    /// CPU time (all threads), context switches summed over threads, and RSS of `pid`.
    static func sample(_ pid: Int32) throws -> Sample {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat[stat.range(of: ")")!.upperBound...].split(separator: " ")
        let cpu = (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)  // utime, stime
        var switches: [String: Int] = [:]
        for task in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? [] {
            let status = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8)) ?? ""
            for line in status.split(separator: "\n") where line.contains("ctxt_switches") {
                switches[task, default: 0] +=
                    Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
            }
        }
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let rss =
            status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true)[1]) } ?? 0
        return Sample(cpuTicks: cpu, contextSwitches: switches, rssKB: rss)
    }

    static func pad2(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
}
