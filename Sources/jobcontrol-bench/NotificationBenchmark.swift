import Foundation
import JobControl
import JobControlClient

/// A notification storm: 1,000 failing builds of one job, each notifying a command channel,
/// against the same builds with no notifications at all, in the same run. With the default
/// rules the storm is suppressed to one `failed` notification; with `repeat: always` every
/// failure after the first is a `still_failing` notification, each a process the daemon runs.
enum NotificationBenchmark {
    static func run(builds count: Int, runs: Int) async throws -> [Figure] {
        let job = "  - id: fails\n    command: [/bin/false]\n"
        let variants: [(name: String, config: String)] = [
            ("no notifications", "jobs:\n" + job),
            (
                "notify: [ops] (default rules: repeats suppressed for 1 h)",
                "notifications:\n  channels:\n    ops: {command: [/bin/true]}\njobs:\n" + job + "    notify: [ops]\n"
            ),
            (
                "notify with repeat: always (every failure notifies)",
                "notifications:\n  channels:\n    ops: {command: [/bin/true]}\njobs:\n" + job
                    + "    notify: [{channel: ops, repeat: always}]\n"
            ),
        ]
        var rates: [[Double]] = Array(repeating: [], count: variants.count)
        var notified: [[Double]] = Array(repeating: [], count: variants.count)
        var drained: [[Double]] = Array(repeating: [], count: variants.count)
        for _ in 0..<runs {
            for (index, variant) in variants.enumerated() {
                let daemon = try DaemonHarness(config: variant.config)
                defer { daemon.stop() }
                let storage = try SQLiteStorage(path: daemon.database)
                let start = Bench.now()
                try await VarlinkConnection.withConnection(path: daemon.socket) { connection in
                    for _ in 0..<count {
                        _ = try await connection.call("io.jobcontrol.Manager.RunJob", ["job": "fails"])
                    }
                }
                daemon.waitForFinishedBuilds(count, storage: storage)
                rates[index].append(Double(count) / (Bench.now() - start))
                // Until every notification the storm caused is delivered.
                while (try? storage.listNotifications(jobID: nil, state: .pending, limit: 1).isEmpty) == false
                    || (try? storage.listNotifications(jobID: nil, state: .sending, limit: 1).isEmpty) == false
                {
                    usleep(20_000)
                }
                drained[index].append(Bench.now() - start)
                notified[index].append(
                    Double((try? storage.listNotifications(jobID: nil, state: nil, limit: 100_000).count) ?? 0))
            }
        }
        let baseline = Bench.median(rates[0])
        var figures: [Figure] = []
        for (index, variant) in variants.enumerated() {
            let rate = Bench.median(rates[index])
            figures.append(
                Figure(
                    group: "notifications", name: "\(count) failing builds, \(variant.name)", value: rate,
                    unit: "builds/s",
                    comparison: index == 0
                        ? "the baseline"
                        : String(
                            format:
                                "%.2f of the baseline; %.0f notifications, all delivered %.1f s after the first run",
                            rate / baseline, Bench.median(notified[index]), Bench.median(drained[index]))))
        }
        return figures
    }
}
