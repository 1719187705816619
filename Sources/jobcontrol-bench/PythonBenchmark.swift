import Foundation
import JobControl
import JobControlClient

/// The cost of a Python function build (issue 23): a trivial function's build, from its recorded
/// start to its end (a fresh interpreter, the runner, the outcome file), next to
/// `python3 -c pass` as a whole process and a `/bin/true` command build, in the same run.
enum PythonBenchmark {
    static func run(builds: Int, runs: Int) async throws -> [Figure] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jc-bench-py-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "def noop():\n    return None\n".write(
            toFile: directory + "/benchjobs.py", atomically: true, encoding: .utf8)
        // The system's interpreter itself: a `python3` found first on PATH may be a wrapper (pyenv's
        // shims cost about 70 ms per start here), which would be measured on both sides.
        guard
            let python = PythonSettings.resolveInterpreter("/usr/bin/python3")
                ?? PythonSettings.resolveInterpreter("python3")
        else { throw BenchError("no python3") }
        let daemon = try DaemonHarness(
            config: """
                python: \(python)
                python_path: [\(directory)]
                jobs:
                  - {id: noop, function: 'benchjobs:noop'}
                  - {id: "true", command: [/bin/true]}
                """, workers: 1)
        defer { daemon.stop() }
        var perJob: [String: [Double]] = [:]
        for _ in 0..<runs {
            for job in ["noop", "true"] {
                var durations: [Double] = []
                for _ in 0..<builds { durations.append(try await duration(of: job, daemon)) }
                perJob[job, default: []].append(Bench.median(durations))
            }
        }
        var process: [Double] = []
        for _ in 0..<runs {
            var times: [Double] = []
            for _ in 0..<builds {
                let start = Bench.now()
                Bench.run([python, "-c", "pass"])
                times.append((Bench.now() - start) * 1000)
            }
            process.append(Bench.median(times))
        }
        let build = Bench.median(perJob["noop"] ?? [])
        let bare = Bench.median(process)
        return [
            Figure(
                group: "python", name: "trivial Python function build (start to end, fresh interpreter)",
                value: build, unit: "ms",
                comparison: String(format: "%.1f ms over `python3 -c pass` (%.2f×)", build - bare, build / bare)),
            Figure(
                group: "python", name: "`python3 -c pass` as a process", value: bare, unit: "ms", comparison: "peer"),
            Figure(
                group: "python", name: "`/bin/true` command build (start to end)",
                value: Bench.median(perJob["true"] ?? []),
                unit: "ms", comparison: "what any command build costs"),
        ]
    }

    /// Runs `job` once and returns its recorded duration in milliseconds.
    static func duration(of job: String, _ daemon: DaemonHarness) async throws -> Double {
        let created = try await daemon.call("RunJob", ["job": .string(job)])
        guard let id = created["build"]?["id"] else { throw BenchError("RunJob replied \(created)") }
        for _ in 0..<6000 {
            let reply = try await daemon.call("GetBuild", ["id": id])
            if let build = reply["build"], build["finished"]?.boolValue == true {
                guard let start = Timestamps.date(build["start_time"]), let end = Timestamps.date(build["end_time"]),
                    build["state"]?.stringValue == "SUCCESSFUL"
                else { throw BenchError("\(job) did not succeed: \(build)") }
                return end.timeIntervalSince(start) * 1000
            }
            try await Task.sleep(for: .milliseconds(2))
        }
        throw BenchError("\(job) did not finish")
    }
}
