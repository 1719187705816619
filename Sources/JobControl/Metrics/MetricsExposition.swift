import Dispatch
import FoundationEssentials
import Glibc

/// The Prometheus text format (version 0.0.4) of ``DaemonMetrics`` and of what the daemon knows
/// at the moment of the scrape. Hand-written rather than through swift-metrics and
/// swift-prometheus: the format is a few lines per family, the values are the daemon's own, and
/// those packages would add their build to every clean build for what `promtool check metrics`
/// verifies here (docs/web.md). A job is the label `job_id`: `job` and `instance` are the labels
/// Prometheus gives each target, and a scraped `job` would be renamed `exported_job`.
public struct MetricsExposition {
    /// What the scrape reads from the daemon itself, not from counters.
    public struct Live: Sendable {
        public var jobs: [String]
        /// Next scheduled run per job (seconds since the epoch).
        public var nextRuns: [String: Double]
        public var running: Int
        public var queued: Int
        public var workers: Int

        public init(jobs: [String], nextRuns: [String: Double], running: Int, queued: Int, workers: Int) {
            self.jobs = jobs
            self.nextRuns = nextRuns
            self.running = running
            self.queued = queued
            self.workers = workers
        }
    }

    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func render(_ metrics: DaemonMetrics, live: Live) -> String {
        let state = metrics.snapshot()
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
            let text =
                labels.isEmpty ? "" : "{" + labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",") + "}"
            out += "\(name)\(text) \(format(value))\n"
        }
        let jobs = Set(live.jobs).union(state.builds.keys).sorted()

        family("jobcontrol_builds_total", "counter", "Builds that ended since the daemon started, by job and result.")
        for job in jobs {
            for result in ["successful", "failed", "skipped"] {
                sample(
                    "jobcontrol_builds_total", [("job_id", job), ("result", result)],
                    Double(state.builds[job]?[result] ?? 0))
            }
        }
        family("jobcontrol_build_duration_seconds", "histogram", "How long builds ran, by job.")
        for job in jobs {
            guard let histogram = state.durations[job] else { continue }
            for (index, bound) in DaemonMetrics.buildBuckets.enumerated() {
                sample(
                    "jobcontrol_build_duration_seconds_bucket", [("job_id", job), ("le", format(bound))],
                    Double(histogram.counts[index]))
            }
            sample(
                "jobcontrol_build_duration_seconds_bucket", [("job_id", job), ("le", "+Inf")], Double(histogram.count))
            sample("jobcontrol_build_duration_seconds_sum", [("job_id", job)], histogram.sum)
            sample("jobcontrol_build_duration_seconds_count", [("job_id", job)], Double(histogram.count))
        }
        family(
            "jobcontrol_job_last_success_timestamp_seconds", "gauge",
            "When the job's latest successful build ended (absent: none known).")
        for job in jobs {
            if let time = state.lastSuccess[job] {
                sample("jobcontrol_job_last_success_timestamp_seconds", [("job_id", job)], time)
            }
        }
        family(
            "jobcontrol_job_last_failure_timestamp_seconds", "gauge",
            "When the job's latest failed build ended, since the daemon started.")
        for job in jobs {
            if let time = state.lastFailure[job] {
                sample("jobcontrol_job_last_failure_timestamp_seconds", [("job_id", job)], time)
            }
        }
        family("jobcontrol_job_next_run_timestamp_seconds", "gauge", "When the job's schedule next runs it.")
        for job in jobs {
            if let time = live.nextRuns[job] {
                sample("jobcontrol_job_next_run_timestamp_seconds", [("job_id", job)], time)
            }
        }
        family("jobcontrol_job_consecutive_failures", "gauge", "Failed builds of the job since its last success.")
        for job in jobs {
            sample(
                "jobcontrol_job_consecutive_failures", [("job_id", job)], Double(state.consecutiveFailures[job] ?? 0))
        }
        family("jobcontrol_occurrences_total", "counter", "Scheduled occurrences recorded, by job and outcome.")
        for job in state.occurrences.keys.sorted() {
            for outcome in state.occurrences[job]!.keys.sorted() {
                sample(
                    "jobcontrol_occurrences_total", [("job_id", job), ("outcome", outcome)],
                    Double(state.occurrences[job]![outcome]!))
            }
        }
        family("jobcontrol_builds_running", "gauge", "Builds running now.")
        sample("jobcontrol_builds_running", [], Double(live.running))
        family("jobcontrol_builds_queued", "gauge", "Builds waiting for a worker.")
        sample("jobcontrol_builds_queued", [], Double(live.queued))
        family("jobcontrol_workers", "gauge", "Builds that may run at once (workers).")
        sample("jobcontrol_workers", [], Double(live.workers))
        family("jobcontrol_log_lines_total", "counter", "Lines of build output and build log records stored.")
        sample("jobcontrol_log_lines_total", [], Double(state.logLines))
        family("jobcontrol_log_bytes_total", "counter", "Bytes of those lines.")
        sample("jobcontrol_log_bytes_total", [], Double(state.logBytes))
        family("jobcontrol_storage_commit_duration_seconds", "histogram", "How long each group commit of writes took.")
        for (index, bound) in DaemonMetrics.commitBuckets.enumerated() {
            sample(
                "jobcontrol_storage_commit_duration_seconds_bucket", [("le", format(bound))],
                Double(state.commits.counts[index]))
        }
        sample("jobcontrol_storage_commit_duration_seconds_bucket", [("le", "+Inf")], Double(state.commits.count))
        sample("jobcontrol_storage_commit_duration_seconds_sum", [], state.commits.sum)
        sample("jobcontrol_storage_commit_duration_seconds_count", [], Double(state.commits.count))
        family(
            "jobcontrol_notification_deliveries_total", "counter",
            "Notification attempts, by channel and result (delivered, failed); given_up counts notifications whose last attempt failed."
        )
        for channel in state.deliveries.keys.sorted() {
            for result in state.deliveries[channel]!.keys.sorted() {
                sample(
                    "jobcontrol_notification_deliveries_total", [("channel", channel), ("result", result)],
                    Double(state.deliveries[channel]![result]!))
            }
        }
        let process = ProcessFigures.read()
        family("process_cpu_seconds_total", "counter", "User and system CPU time of the daemon.")
        sample("process_cpu_seconds_total", [], process.cpuSeconds)
        family("process_resident_memory_bytes", "gauge", "Resident memory of the daemon.")
        sample("process_resident_memory_bytes", [], process.residentBytes)
        family("process_open_fds", "gauge", "Open file descriptors of the daemon.")
        sample("process_open_fds", [], process.openFiles)
        family("process_start_time_seconds", "gauge", "When the daemon started (seconds since the epoch).")
        sample("process_start_time_seconds", [], metrics.startTime)
        return out
    }

    /// Label values: backslash, double quote and newline escaped, as the format requires.
    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }

    static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}

/// The daemon's own CPU, memory and descriptors, from /proc/self.
struct ProcessFigures {
    var cpuSeconds = 0.0
    var residentBytes = 0.0
    var openFiles = 0.0

    static func read() -> ProcessFigures {
        var figures = ProcessFigures()
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        {
            // Fields after the command name: state is field 3; utime and stime are 14 and 15.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) {
                figures.cpuSeconds = (user + system) / ticks
            }
        }
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) {
            let fields = statm.split(separator: " ")
            if fields.count > 1, let pages = Double(fields[1]) {
                figures.residentBytes = pages * Double(sysconf(Int32(_SC_PAGESIZE)))
            }
        }
        figures.openFiles = Double((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0)
        return figures
    }
}
