import Dispatch
import FoundationEssentials
import Glibc
import Synchronization

/// What the daemon counts for `/metrics` (docs/web.md): builds by result and their durations,
/// each job's last success and failure, its run of failures, occurrences by outcome, log lines
/// and bytes stored, storage commit latency, and notification deliveries. Counters start at zero
/// when the process starts, as Prometheus expects of counters.
///
/// One instance per process (``shared``): builds, the storage writer and the deliverer report
/// from their own threads. State: everything behind `state`, a `Mutex`; a report is one short
/// critical section, so the hot paths (a log line, a commit) pay a lock and a dictionary update.
public final class DaemonMetrics: Sendable {
    public static let shared = DaemonMetrics()

    /// Duration buckets (seconds) for builds: from a trivial command to a four-hour backup.
    static let buildBuckets: [Double] = [0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14400]
    /// Commit latency buckets (seconds): a group commit is a millisecond or so; a slow disk is not.
    static let commitBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5]

    struct Histogram: Sendable {
        var counts: [UInt64]
        var sum = 0.0
        var count: UInt64 = 0

        init(buckets: Int) { counts = Array(repeating: 0, count: buckets) }

        mutating func observe(_ value: Double, bounds: [Double]) {
            for (index, bound) in bounds.enumerated() where value <= bound { counts[index] += 1 }
            sum += value
            count += 1
        }
    }

    struct State: Sendable {
        var builds: [String: [String: UInt64]] = [:]
        var durations: [String: Histogram] = [:]
        var lastSuccess: [String: Double] = [:]
        var lastFailure: [String: Double] = [:]
        var consecutiveFailures: [String: Int] = [:]
        var occurrences: [String: [String: UInt64]] = [:]
        var logLines: UInt64 = 0
        var logBytes: UInt64 = 0
        var commits = Histogram(buckets: DaemonMetrics.commitBuckets.count)
        var deliveries: [String: [String: UInt64]] = [:]
    }

    let state = Mutex(State())
    /// When the process started (seconds since the epoch).
    public let startTime = Date().timeIntervalSince1970

    public init() {}

    /// A build ended: `result` is `successful`, `failed` or `skipped`.
    public func buildFinished(job: String, result: String, duration: Double?, at end: Date) {
        state.withLock { state in
            state.builds[job, default: [:]][result, default: 0] += 1
            if let duration {
                state.durations[job, default: Histogram(buckets: Self.buildBuckets.count)]
                    .observe(duration, bounds: Self.buildBuckets)
            }
            switch result {
            case "failed":
                state.lastFailure[job] = end.timeIntervalSince1970
                state.consecutiveFailures[job, default: 0] += 1
            case "successful":
                state.lastSuccess[job] = end.timeIntervalSince1970
                state.consecutiveFailures[job] = 0
            default:
                break  // a skipped build neither fails nor succeeds
            }
        }
    }

    /// What storage knew at start: each job's latest success (so the gauge is right after a restart).
    public func seed(lastSuccess: [String: Date]) {
        state.withLock { state in
            for (job, time) in lastSuccess where state.lastSuccess[job] == nil {
                state.lastSuccess[job] = time.timeIntervalSince1970
            }
        }
    }

    /// An occurrence was recorded with `outcome` (started, queued, skipped, missed, failed).
    public func occurrence(job: String, outcome: String) {
        state.withLock { $0.occurrences[job, default: [:]][outcome, default: 0] += 1 }
    }

    /// Lines of build output (and their bytes) handed to storage.
    public func logged(lines: Int, bytes: Int) {
        state.withLock { state in
            state.logLines += UInt64(lines)
            state.logBytes += UInt64(bytes)
        }
    }

    /// One storage commit (a group of writes) took `seconds`.
    public func committed(seconds: Double) {
        state.withLock { $0.commits.observe(seconds, bounds: Self.commitBuckets) }
    }

    /// A notification attempt ended: `result` is `delivered` or `failed`.
    public func delivery(channel: String, result: String) {
        state.withLock { $0.deliveries[channel, default: [:]][result, default: 0] += 1 }
    }

    func snapshot() -> State { state.withLock { $0 } }
}
