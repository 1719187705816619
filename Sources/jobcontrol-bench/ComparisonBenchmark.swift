import Foundation
import JobControl
import JobControlClient
import JobControlProtocol
import Logging

/// The figures of issue 9, each next to a peer or a limit measured in the same run: throughput
/// (next to task-spooler and raw posix_spawn), log ingest (next to raw SQLite inserts), call
/// latency (next to /bin/true as a process), scale (10,000 jobs, 1,000,000 builds).
enum ComparisonBenchmark {
    static var jobctl: String { DaemonHarness.binDirectory.appendingPathComponent("jobctl").path }

    // MARK: Throughput

    static func throughput(builds count: Int, runs: Int) async throws -> [Figure] {
        var yaml = "jobs:\n"
        for index in 0..<count { yaml += "  - {id: t\(index), command: [/bin/true]}\n" }
        yaml +=
            "  - id: fanout\n    command: [/bin/true]\n    dependencies: [\((0..<count).map { "t\($0)" }.joined(separator: ", "))]\n"
        var fanout: [Double] = []
        var cpuPerBuild: [Double] = []
        var machinePerBuild: [Double] = []
        var idleShare: [Double] = []
        var separate: [Double] = []
        var uncontained: [Double] = []
        var uncontainedCPU: [Double] = []
        for _ in 0..<runs {
            // The same fan-out without cgroups (process groups only), interleaved with the runs
            // with them: what containment costs per build.
            let (rate, cpu) = try await fanOut(config: "containment: process-group\n" + yaml, builds: count + 1)
            uncontained.append(rate)
            uncontainedCPU.append(cpu)
            let daemon = try DaemonHarness(config: yaml)
            defer { daemon.stop() }
            let storage = try SQLiteStorage(path: daemon.database)
            let cpuBefore = Bench.cpuSeconds(daemon.process.processIdentifier)
            let machineBefore = Bench.machineSeconds()
            var start = Bench.now()
            try await VarlinkConnection.withConnection(path: daemon.socket) { connection in
                try await connection.callMore("io.jobcontrol.Manager.RunJob", ["job": "fanout", "build_deps": true]) {
                    _ in
                }
            }
            let machineAfter = Bench.machineSeconds()
            let busy = machineAfter.busy - machineBefore.busy
            let idle = machineAfter.idle - machineBefore.idle
            machinePerBuild.append(busy * 1000 / Double(count + 1))
            idleShare.append(busy + idle > 0 ? idle / (busy + idle) : 0)
            daemon.waitForFinishedBuilds(count + 1, storage: storage)
            fanout.append(Double(count + 1) / (Bench.now() - start))
            cpuPerBuild.append(
                (Bench.cpuSeconds(daemon.process.processIdentifier) - cpuBefore) * 1000 / Double(count + 1))
            start = Bench.now()
            for index in 0..<count { Bench.run([jobctl, "--socket", daemon.socket, "run", "t\(index)"]) }
            daemon.waitForFinishedBuilds(2 * count + 1, storage: storage)
            separate.append(Double(count) / (Bench.now() - start))
        }
        var tsp: [Double] = []
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/tsp") {
            for _ in 0..<runs { tsp.append(taskSpooler(count)) }
        }
        var raw: [Double] = []
        for _ in 0..<runs { raw.append(rawSpawn(count)) }
        var floor: [Double] = []
        var floorMachine: [Double] = []
        for _ in 0..<runs {
            let before = Bench.machineSeconds()
            floor.append(try FloorBenchmark.run(builds: count + 1, inFlight: 2))
            let after = Bench.machineSeconds()
            floorMachine.append((after.busy - before.busy) * 1000 / Double(count + 1))
        }
        let tspRate = Bench.median(tsp)
        let rawRate = Bench.median(raw)
        func compare(_ rate: Double) -> String {
            var parts: [String] = []
            if tspRate > 0 { parts.append(String(format: "%.2f× task-spooler (aim ≥ 2×)", rate / tspRate)) }
            parts.append(String(format: "%.2f of raw spawn (aim ≥ 0.25)", rate / rawRate))
            return parts.joined(separator: ", ")
        }
        let containment = CgroupHost.probe.usable ? "a cgroup per build" : "no cgroups on this host"
        var figures = [
            Figure(
                group: "throughput", name: "\(count) builds in one request (--build-deps fan-out; \(containment))",
                value: Bench.median(fanout), unit: "builds/s", comparison: compare(Bench.median(fanout))),
            Figure(
                group: "throughput", name: "daemon CPU per build in that fan-out (user + system, all threads)",
                value: Bench.median(cpuPerBuild), unit: "ms", comparison: "the commands' own CPU not included"),
            Figure(
                group: "throughput", name: "the whole machine's CPU per build in that fan-out (every process)",
                value: Bench.median(machinePerBuild), unit: "ms",
                comparison: String(
                    format: "%.0f %% of the CPUs idle; 2× task-spooler leaves %.2f ms per build with none idle",
                    Bench.median(idleShare) * 100,
                    tspRate > 0 ? Double(ProcessInfo.processInfo.activeProcessorCount) * 1000 / (2 * tspRate) : 0)),
            Figure(
                group: "throughput", name: "the same fan-out with containment: process-group (no cgroups)",
                value: Bench.median(uncontained), unit: "builds/s", comparison: compare(Bench.median(uncontained))),
            Figure(
                group: "throughput", name: "containment's cost per build (wall time, from the two fan-outs)",
                value: (1 / Bench.median(fanout) - 1 / Bench.median(uncontained)) * 1000, unit: "ms",
                comparison: String(
                    format: "daemon CPU %.3f ms per build with cgroups, %.3f without", Bench.median(cpuPerBuild),
                    Bench.median(uncontainedCPU))),
            Figure(
                group: "throughput", name: "\(count) builds by separate `jobctl run` processes",
                value: Bench.median(separate), unit: "builds/s", comparison: compare(Bench.median(separate))),
        ]
        if tspRate > 0 {
            figures.append(
                Figure(
                    group: "throughput", name: "task-spooler, \(count) `true` jobs, 2 slots", value: tspRate,
                    unit: "jobs/s", comparison: "peer"))
        } else {
            figures.append(
                Figure(
                    group: "throughput", name: "task-spooler not installed (apt-get install task-spooler)", value: 0,
                    unit: "jobs/s"))
        }
        figures.append(
            Figure(
                group: "throughput", name: "raw posix_spawn of /bin/true, 2 in flight", value: rawRate,
                unit: "spawns/s", comparison: "limit"))
        let floorRate = Bench.median(floor)
        figures.append(
            Figure(
                group: "throughput",
                name: "floor: \(count + 1) recorded, contained builds, 2 in flight, one thread and nothing else",
                value: floorRate, unit: "builds/s",
                comparison: String(
                    format: "limit: %@; the fan-out reaches %.2f of it",
                    tspRate > 0 ? String(format: "%.2f× task-spooler", floorRate / tspRate) : "no task-spooler",
                    Bench.median(fanout) / floorRate)))
        // With no CPU ever idle, two CPUs could do at most this many of the floor's builds.
        let ceiling = Double(ProcessInfo.processInfo.activeProcessorCount) * 1000 / Bench.median(floorMachine)
        figures.append(
            Figure(
                group: "throughput", name: "the whole machine's CPU per build of that floor (every process)",
                value: Bench.median(floorMachine), unit: "ms",
                comparison: String(
                    format: "with no CPU ever idle: at most %.0f builds/s, %@", ceiling,
                    tspRate > 0 ? String(format: "%.2f× task-spooler", ceiling / tspRate) : "no task-spooler")))
        return figures
    }

    /// One `--build-deps` fan-out of `builds` builds on a fresh daemon: (builds/s, daemon CPU ms
    /// per build).
    static func fanOut(config: String, builds: Int) async throws -> (Double, Double) {
        let daemon = try DaemonHarness(config: config)
        defer { daemon.stop() }
        let storage = try SQLiteStorage(path: daemon.database)
        let cpuBefore = Bench.cpuSeconds(daemon.process.processIdentifier)
        let start = Bench.now()
        try await VarlinkConnection.withConnection(path: daemon.socket) { connection in
            try await connection.callMore("io.jobcontrol.Manager.RunJob", ["job": "fanout", "build_deps": true]) { _ in
            }
        }
        daemon.waitForFinishedBuilds(builds, storage: storage)
        let rate = Double(builds) / (Bench.now() - start)
        return (rate, (Bench.cpuSeconds(daemon.process.processIdentifier) - cpuBefore) * 1000 / Double(builds))
    }

    /// task-spooler with 2 slots: queue `count` /bin/true jobs, wait for the last to end.
    static func taskSpooler(_ count: Int) -> Double {
        let socket = FileManager.default.temporaryDirectory.appendingPathComponent("jc-bench-tsp-\(getpid())").path
        // Each job's output goes to a file of its own, as task-spooler keeps it (our builds store
        // theirs too), in a directory removed afterwards: not thousands of ts-out.* in /tmp.
        let outputs = FileManager.default.temporaryDirectory.appendingPathComponent("jc-bench-tsp-out-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: outputs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: outputs) }
        let environment = [
            "TS_SOCKET": socket, "TS_MAXFINISHED": String(count + 10), "TS_SAVELIST": "/dev/null", "TMPDIR": outputs,
        ]
        Bench.run(["/usr/bin/tsp", "-S", "2"], environment: environment)
        let start = Bench.now()
        for _ in 0..<count { Bench.run(["/usr/bin/tsp", "/bin/true"], environment: environment) }
        // -w waits for the last job; then wait for any still running (2 slots finish out of order).
        Bench.run(["/usr/bin/tsp", "-w"], environment: environment)
        while output(["/usr/bin/tsp", "-l"], environment: environment).contains(" running ") { usleep(5_000) }
        let rate = Double(count) / (Bench.now() - start)
        Bench.run(["/usr/bin/tsp", "-K"], environment: environment)
        return rate
    }

    static func output(_ argv: [String], environment: [String: String]) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return "" }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// posix_spawn of /bin/true, two in flight: the machine's ceiling for "run a trivial command".
    static func rawSpawn(_ count: Int) -> Double {
        let start = Bench.now()
        var running = 0
        var started = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
        defer { free(argv[0]) }
        while started < count || running > 0 {
            while running < 2 && started < count {
                var pid: pid_t = 0
                posix_spawn(&pid, "/bin/true", nil, nil, argv, environ)
                running += 1
                started += 1
            }
            var status: Int32 = 0
            if waitpid(-1, &status, 0) > 0 { running -= 1 }
        }
        return Double(count) / (Bench.now() - start)
    }

    // MARK: Log ingest

    static func ingest(lines: Int, runs: Int) async throws -> [Figure] {
        var rates: [Double] = []
        var peakRSS = 0
        var stored = 0
        for _ in 0..<runs {
            let daemon = try DaemonHarness(config: "jobs:\n  - {id: chatty, command: [seq, '\(lines)']}\n")
            defer { daemon.stop() }
            let sampling = RSSSampler(pid: daemon.process.processIdentifier)
            let start = Bench.now()
            try await VarlinkConnection.withConnection(path: daemon.socket) { connection in
                try await connection.callMore("io.jobcontrol.Manager.RunJob", ["job": "chatty"]) { _ in }
            }
            rates.append(Double(lines) / (Bench.now() - start))
            peakRSS = max(peakRSS, sampling.stop())
            let database = try SQLiteDatabase(path: daemon.database, busyTimeout: 10)
            stored = try database.read { try $0.fetchValue(Int.self, sql: "SELECT count(*) FROM log") } ?? 0
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jc-bench-raw-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var raw: [Double] = []
        for run in 0..<runs {
            let seconds = try StorageBenchmark.rawBatchedInserts(
                path: directory.appendingPathComponent("raw\(run).sqlite3").path, rows: 200_000)
            raw.append(200_000 / seconds)
        }
        let rawRate = Bench.median(raw)
        return [
            Figure(
                group: "log ingest", name: "a build printing \(lines) lines, stored (\(stored) rows)",
                value: Bench.median(rates), unit: "lines/s",
                comparison: String(format: "%.2f of raw inserts (aim ≥ 0.5)", Bench.median(rates) / rawRate)),
            Figure(
                group: "log ingest", name: "raw SQLite inserts, 1,000 per transaction", value: rawRate, unit: "rows/s",
                comparison: "limit"),
            Figure(
                group: "log ingest", name: "daemon peak RSS while ingesting", value: Double(peakRSS) / 1024, unit: "MB",
                comparison: "bounded"),
        ]
    }

    /// Samples a process's RSS every 50 ms on its own thread until stopped; returns the peak in KB.
    final class RSSSampler: @unchecked Sendable {
        // Ownership: `peak` and `running` are guarded by `lock`.
        private let lock = NSLock()
        private var peak = 0
        private var running = true

        init(pid: Int32) {
            Thread { [self] in
                while lock.withLock({ running }) {
                    let rss = Bench.rssKilobytes(pid)
                    lock.withLock { peak = max(peak, rss) }
                    usleep(50_000)
                }
            }.start()
        }

        func stop() -> Int {
            lock.withLock {
                running = false
                return peak
            }
        }
    }

    // MARK: Latency

    static func latency(calls: Int, runs: Int) async throws -> [Figure] {
        let daemon = try DaemonHarness(config: "jobs:\n  - {id: a, command: [/bin/true]}\n")
        defer { daemon.stop() }
        var samples: [Double] = []
        var floor: [Double] = []
        try await VarlinkConnection.withConnection(path: daemon.socket) { connection in
            for _ in 0..<100 { _ = try await connection.call("io.jobcontrol.Manager.Status") }  // warm up
            for _ in 0..<calls {
                var start = Bench.now()
                _ = try await connection.call("io.jobcontrol.Manager.Status")
                samples.append((Bench.now() - start) * 1e6)
                start = Bench.now()
                _ = try await connection.call("org.varlink.service.GetInfo")
                floor.append((Bench.now() - start) * 1e6)
            }
        }
        // The same call from a plain blocking socket client: the daemon's share without the
        // client library's event loop.
        let raw = try RawVarlinkClient(path: daemon.socket)
        var rawSamples: [Double] = []
        let request = Array(#"{"method":"io.jobcontrol.Manager.Status"}"#.utf8) + [0]
        for _ in 0..<100 { try raw.roundTrip(request) }
        for _ in 0..<calls {
            let start = Bench.now()
            try raw.roundTrip(request)
            rawSamples.append((Bench.now() - start) * 1e6)
        }
        var processRuns: [Double] = []
        var queueRuns: [Double] = []
        var trueRuns: [Double] = []
        for _ in 0..<(runs * 10) {
            var start = Bench.now()
            Bench.run([jobctl, "--socket", daemon.socket, "status"])
            processRuns.append((Bench.now() - start) * 1000)
            start = Bench.now()
            Bench.run([jobctl, "--socket", daemon.socket, "run", "a"])
            queueRuns.append((Bench.now() - start) * 1000)
            start = Bench.now()
            Bench.run(["/bin/true"])
            trueRuns.append((Bench.now() - start) * 1000)
        }
        let process = Bench.median(processRuns)
        let trueProcess = Bench.median(trueRuns)
        let inBuild = try await inBuildCalls(runs: runs)
        return [
            Figure(
                group: "latency", name: "Status call, persistent connection, plain socket client, p50",
                value: Bench.percentile(rawSamples, 0.5), unit: "µs", comparison: "aim < 100 µs"),
            Figure(
                group: "latency", name: "Status call, persistent connection, plain socket client, p99",
                value: Bench.percentile(rawSamples, 0.99), unit: "µs"),
            Figure(
                group: "latency", name: "Status call on a persistent connection (jobctl's client), p50",
                value: Bench.percentile(samples, 0.5), unit: "µs"),
            Figure(
                group: "latency", name: "GetInfo (no engine or storage work), jobctl's client, p50",
                value: Bench.percentile(floor, 0.5), unit: "µs", comparison: "the client library's floor"),
            Figure(
                group: "latency", name: "`jobctl status` as a whole process, median", value: process, unit: "ms",
                comparison: String(format: "%.1f× /bin/true (aim ≤ 2×)", process / trueProcess)),
            Figure(
                group: "latency", name: "`jobctl run JOB` (queue a build, no wait) as a whole process, median",
                value: Bench.median(queueRuns), unit: "ms",
                comparison: String(format: "aim ≤ 3 ms; %.1f× /bin/true", Bench.median(queueRuns) / trueProcess)),
            Figure(
                group: "latency", name: "/bin/true as a whole process, median", value: trueProcess, unit: "ms",
                comparison: "limit"),
            Figure(
                group: "latency", name: "`jobctl progress` inside a build (a shell loop), per call",
                value: inBuild.jobctl,
                unit: "ms", comparison: String(format: "aim ≤ 3 ms; %.1f× /bin/true", inBuild.jobctl / inBuild.true)),
            Figure(
                group: "latency", name: "/bin/true in the same loop, per call", value: inBuild.true, unit: "ms",
                comparison: "limit"),
        ]
    }

    // MARK: Footprint

    /// Idle RSS of a daemon with a few jobs (after start-up has settled), what of it is private,
    /// and the size of each binary once stripped (debug info ships separately).
    static func footprint() async throws -> [Figure] {
        var yaml = "jobs:\n"
        for index in 0..<5 { yaml += "  - {id: job\(index), command: [/bin/true], schedule: hourly}\n" }
        let daemon = try DaemonHarness(config: yaml)
        defer { daemon.stop() }
        _ = try await daemon.call("Status")
        try await Task.sleep(for: .seconds(3))
        let status =
            (try? String(contentsOfFile: "/proc/\(daemon.process.processIdentifier)/status", encoding: .utf8)) ?? ""
        func kilobytes(_ key: String) -> Double {
            let line = status.split(separator: "\n").first { $0.hasPrefix(key + ":") }
            return line.flatMap { Double($0.split(separator: " ", omittingEmptySubsequences: true)[1]) } ?? 0
        }
        var figures = [
            Figure(
                group: "footprint", name: "idle RSS of the daemon, 5 jobs scheduled", value: kilobytes("VmRSS") / 1024,
                unit: "MB", comparison: "aim < 20 MB"),
            Figure(
                group: "footprint", name: "of which anonymous (heap, stacks: the daemon's own memory)",
                value: kilobytes("RssAnon") / 1024, unit: "MB", comparison: "the rest: clean pages of files"),
        ]
        for binary in ["jobcontrold", "jobctl"] {
            let source = DaemonHarness.binDirectory.appendingPathComponent(binary).path
            let stripped = FileManager.default.temporaryDirectory.appendingPathComponent("jc-bench-\(binary)").path
            Bench.run(["/usr/bin/strip", "-o", stripped, source])
            let size = (try? FileManager.default.attributesOfItem(atPath: stripped)[.size] as? Int) ?? 0
            try? FileManager.default.removeItem(atPath: stripped)
            figures.append(
                Figure(
                    group: "footprint", name: "\(binary), stripped", value: Double(size) / 1_048_576, unit: "MB",
                    comparison: "aim ≤ 30 MB"))
        }
        return figures
    }

    /// Builds that call `jobctl progress` (the daemon's own, first on their PATH) or /bin/true
    /// 300 times in a shell loop; per call: the build's recorded duration / 300, median of runs.
    static func inBuildCalls(runs: Int) async throws -> (jobctl: Double, true: Double) {
        let calls = 300
        let daemon = try DaemonHarness(
            config: """
                jobs:
                  - {id: progress, command: 'i=0; while [ $i -lt \(calls) ]; do i=$((i+1)); jobctl progress $i \(calls); done'}
                  - {id: "true", command: 'i=0; while [ $i -lt \(calls) ]; do i=$((i+1)); /bin/true $i \(calls); done'}
                """)
        defer { daemon.stop() }
        var perCall: [String: [Double]] = [:]
        for _ in 0..<runs {
            for job in ["progress", "true"] {
                let created = try await daemon.call("RunJob", ["job": .string(job)])
                guard let id = created["build"]?["id"] else { throw BenchError("RunJob replied \(created)") }
                var reply: [String: JSONValue] = [:]
                for _ in 0..<6000 {
                    reply = try await daemon.call("GetBuild", ["id": id])
                    if reply["build"]?["finished"]?.boolValue == true { break }
                    try await Task.sleep(for: .milliseconds(10))
                }
                guard let build = reply["build"], let start = Timestamps.date(build["start_time"]),
                    let end = Timestamps.date(build["end_time"]), build["state"]?.stringValue == "SUCCESSFUL"
                else { throw BenchError("the in-build \(job) loop did not succeed: \(reply)") }
                perCall[job, default: []].append(end.timeIntervalSince(start) * 1000 / Double(calls))
            }
        }
        return (Bench.median(perCall["progress"] ?? []), Bench.median(perCall["true"] ?? []))
    }

    // MARK: Scale

    static func scale(jobs count: Int, builds: Int, runs: Int) async throws -> [Figure] {
        // A graph of `count` jobs, each depending on up to three earlier ones (seeded, reproducible).
        var random = SplitMix(seed: 7)
        var yaml = "jobs:\n"
        for index in 0..<count {
            let dependencies =
                index == 0
                ? [] : Set((0..<Int(random.next() % 4)).map { _ in Int(random.next() % UInt64(index)) }).sorted()
            yaml +=
                "  - {id: j\(index), command: [/bin/true], dependencies: [\(dependencies.map { "j\($0)" }.joined(separator: ", "))]}\n"
        }
        yaml +=
            "  - {id: all, command: [/bin/true], dependencies: [\((count - 100..<count).map { "j\($0)" }.joined(separator: ", "))]}\n"
        var loads: [Double] = []
        var plans: [Double] = []
        var planned = 0
        for _ in 0..<runs {
            var start = Bench.now()
            let config = try ConfigLoader.parse(yaml: yaml, file: "scale.yaml")
            loads.append((Bench.now() - start) * 1000)
            let storage = try StorageFactory.open(url: "sqlite::memory:")
            try storage.install()
            let engine = BuildEngine(
                config: config, storage: storage,
                logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }))
            start = Bench.now()
            planned = try await engine.dependencyPlan(for: "all").count
            plans.append((Bench.now() - start) * 1000)
        }

        // History: `builds` finished builds, then `jobctl builds` against a daemon on it.
        let history = try await HistoryDatabase(name: "history", builds: builds, jobs: 1000)
        defer { history.remove() }
        let daemon = try DaemonHarness(config: "jobs: []\n", database: history.path)
        defer { daemon.stop() }
        var calls: [Double] = []
        try await VarlinkConnection.withConnection(path: daemon.socket) { connection in
            for round in 0..<(runs * 20) {
                let start = Bench.now()
                _ = try await connection.call(
                    "io.jobcontrol.Manager.ListBuilds", round % 2 == 0 ? [:] : ["job": "job7"])
                calls.append((Bench.now() - start) * 1000)
            }
        }
        var processes: [Double] = []
        for _ in 0..<(runs * 5) {
            let start = Bench.now()
            Bench.run([jobctl, "--socket", daemon.socket, "builds"])
            processes.append((Bench.now() - start) * 1000)
        }
        return [
            Figure(
                group: "scale", name: "load and validate \(count) jobs (YAML → config, graph checks)",
                value: Bench.median(loads), unit: "ms"),
            Figure(
                group: "scale", name: "plan a --build-deps run over them (\(planned) jobs in the plan)",
                value: Bench.median(plans), unit: "ms", comparison: "aim < 100 ms"),
            Figure(
                group: "scale", name: "ListBuilds (50 newest, all or one job) over \(builds) builds, median",
                value: Bench.median(calls), unit: "ms", comparison: "aim < 50 ms"),
            Figure(
                group: "scale", name: "`jobctl builds` as a process over \(builds) builds, median",
                value: Bench.median(processes), unit: "ms", comparison: "aim < 50 ms"),
        ]
    }

    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    // MARK: Report

    static func printTable(_ figures: [Figure]) {
        var group = ""
        for figure in figures {
            if figure.group != group {
                group = figure.group
                print("\n\(group)")
            }
            let value =
                figure.value >= 100 ? String(format: "%.0f", figure.value) : String(format: "%.2f", figure.value)
            print(
                "  \(figure.name.padding(toLength: 66, withPad: " ", startingAt: 0)) \(value.leftPadded(12)) \(figure.unit.padding(toLength: 9, withPad: " ", startingAt: 0)) \(figure.comparison)"
            )
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

/// A blocking Varlink client on a plain Unix socket: one request, read up to the reply's NUL.
final class RawVarlinkClient {
    let descriptor: Int32
    private var buffer = [UInt8](repeating: 0, count: 65_536)

    init(path: String) throws {
        descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { bytes in
            for (index, byte) in path.utf8.enumerated() where index < bytes.count - 1 { bytes[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else { throw StorageError(.cannotOpen, "cannot connect to \(path)") }
    }

    deinit { close(descriptor) }

    func roundTrip(_ request: [UInt8]) throws {
        _ = request.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, 0) }
        while true {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            guard count > 0 else { throw StorageError(.query, "connection closed") }
            if buffer[count - 1] == 0 { return }
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
