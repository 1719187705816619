import Foundation
import JobControl
import JobControlClient
import Testing

/// Three real daemons on one PostgreSQL database (scripts/test.sh starts a throwaway server):
/// 300 builds and a job scheduled every second for a minute; the daemon running the schedules is
/// SIGKILLed mid-build. Every build runs exactly once, every occurrence once; another daemon takes
/// over the schedules at once, and the killed daemon's builds are recovered by the others after
/// its lease expires; nothing is lost or duplicated.
@Suite(
    .enabled(
        if: ProcessInfo.processInfo.environment["JOBCONTROL_TEST_PG_URL"] != nil,
        "no PostgreSQL server: set JOBCONTROL_TEST_PG_URL (scripts/test.sh starts one)"))
struct ClusterTests {
    static let baseURL = ProcessInfo.processInfo.environment["JOBCONTROL_TEST_PG_URL"] ?? ""

    /// A schema of its own (so tests sharing the server do not meet) and the URL that selects it.
    static func freshSchema(_ prefix: String) throws -> (storage: PostgresStorage, url: String) {
        let schema = "\(prefix)_\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
        let storage = try PostgresStorage(url: baseURL, schema: schema)  // creates the schema
        return (storage, baseURL + "?options=-csearch_path%3D" + schema)
    }

    @Test(.timeLimit(.minutes(4)))
    func threeDaemonsShareTheWorkAndRecoverAKilledOne() async throws {
        let (storage, url) = try Self.freshSchema("cluster")
        defer { try? storage.uninstall() }
        let directory = try TemporaryDirectory()
        let ran = directory.file("ran"), ticks = directory.file("ticks")
        var config = "storage: \(url)\nworkers: 2\ncluster: {lease: 2s}\njobs:\n"
        for index in 1...300 {
            config += "  - {id: w\(index), command: 'echo $JOBCONTROL_BUILD_ID >> \(ran); sleep 0.2', retries: 1}\n"
        }
        // persistent: an occurrence that falls in the fail-over of the schedules still runs.
        config +=
            "  - {id: tick, command: 'echo $JOBCONTROL_BUILD_ID >> \(ticks)', schedule: '*:*:*', concurrency: allow, persistent: true}\n"
        try directory.write("jobcontrol.yaml", config)

        var daemons: [DaemonProcess] = []
        for node in ["n1", "n2", "n3"] {
            daemons.append(
                try await DaemonProcess(directory: directory, storageURL: url, name: node, arguments: ["--node", node]))
        }
        let started = ContinuousClock.now
        defer { for daemon in daemons { daemon.kill() } }

        let status = try await daemons[0].jobctl("status")
        #expect(status.stdout.contains("cluster: 3 daemons"), "\(status.stdout)\(status.stderr)")

        // 300 builds, asked of the three daemons in turn.
        for index in 1...300 {
            let daemon = daemons[index % 3]
            _ = try await VarlinkConnection.withConnection(path: daemon.socket) { connection in
                try await connection.call("io.jobcontrol.Manager.RunJob", ["job": .string("w\(index)")])
            }
        }

        // SIGKILL the daemon that runs the schedules, while it runs builds: its builds must be
        // recovered and the schedules must go on elsewhere.
        var victim = ""
        try await waitFor("the scheduling daemon to run a build", timeout: .seconds(60)) {
            guard let scheduling = (try? storage.clusterNodes())?.first(where: \.schedules)?.node else { return false }
            let running =
                (try? storage.getJobBuilds(
                    jobID: nil, filter: BuildFilter(started: true, finished: false), order: .ascending, limit: 100))
                ?? []
            victim = scheduling
            return running.contains { $0.node == scheduling && $0.jobID.hasPrefix("w") }
        }
        let victimIndex = try #require(["n1", "n2", "n3"].firstIndex(of: victim))
        daemons[victimIndex].kill()

        // Another daemon takes the schedules at once; the others recover its builds once its
        // lease expires; then it comes back and rejoins.
        try await waitFor("another daemon to run the schedules", timeout: .seconds(30)) {
            ((try? storage.clusterNodes()) ?? []).contains { $0.schedules && $0.node != victim }
        }
        try await waitFor("\(victim)'s builds to be recovered", timeout: .seconds(60)) {
            (try? storage.clusterNodes().first { $0.node == victim }?.state) == "lost"
        }
        daemons[victimIndex] = try await DaemonProcess(
            directory: directory, storageURL: url, name: victim, arguments: ["--node", victim])

        try await waitFor("every job to have a successful build", timeout: .seconds(150)) {
            let done =
                (try? storage.getJobBuilds(
                    jobID: nil, filter: BuildFilter(finished: true, success: true), order: .ascending, limit: 100_000))
                ?? []
            return Set(done.map(\.jobID).filter { $0.hasPrefix("w") }).count == 300
        }

        // The schedule runs for a minute, then is suspended through one daemon: all stop.
        let minute = started + .seconds(60)
        if ContinuousClock.now < minute { try await Task.sleep(until: minute) }
        let suspend = try await daemons[2].jobctl("suspend", "tick")
        #expect(suspend.status == 0, "\(suspend.stderr)")
        let suspendedAt = Int64(Date().timeIntervalSince1970 * 1_000_000)
        try await waitFor("every build to finish", timeout: .seconds(60)) {
            ((try? storage.unfinishedBuilds()) ?? [UnfinishedBuild(build: Build(id: 0, jobID: ""))]).isEmpty
        }
        try await Task.sleep(for: .seconds(2))  // let a late tick show itself, if there were one

        let builds = try storage.getJobBuilds(jobID: nil, filter: BuildFilter(), order: .ascending, limit: 100_000)
        let byID = Dictionary(uniqueKeysWithValues: builds.map { ($0.id, $0) })
        // Every build ran at most once (its command left one line), and each job succeeded once.
        let ranLines = try String(contentsOfFile: ran, encoding: .utf8).split(separator: "\n").compactMap { Int64($0) }
        #expect(ranLines.count == Set(ranLines).count, "a build ran twice")
        for index in 1...300 {
            let jobBuilds = builds.filter { $0.jobID == "w\(index)" }
            #expect(
                jobBuilds.filter { $0.state == .successful }.count == 1,
                "w\(index): \(jobBuilds.map { "\($0.id) \($0.state)" })")
            // A failure is only a build the killed daemon had, retried elsewhere.
            for failed in jobBuilds where failed.state == .failed {
                #expect(failed.node == victim && failed.exception?["type"]?.stringValue == "DaemonLost", "\(failed)")
                #expect(jobBuilds.contains { $0.config["build"]?["trigger"]?["after_crash_of"]?.intValue == failed.id })
            }
        }
        let lost = builds.filter { $0.exception?["type"]?.stringValue == "DaemonLost" }
        #expect(!lost.isEmpty, "\(victim) was killed mid-build, so some builds were recovered")
        #expect(Set(builds.compactMap(\.node)) == ["n1", "n2", "n3"])

        // Every second of the minute had one occurrence, run by one build, once.
        let occurrences = try storage.occurrences(jobID: "tick", outcome: nil, limit: 10_000).sorted { $0.due < $1.due }
        let dues = occurrences.map(\.due)
        #expect(dues.count >= 55, "\(dues.count) occurrences in a minute")
        #expect(Set(dues).count == dues.count)
        if let first = dues.first, let last = dues.last {
            #expect(
                (last - first) / 1_000_000 + 1 == Int64(dues.count),
                "an occurrence is missing between the first and the last")
            #expect(last <= suspendedAt + 1_000_000, "a tick ran after the schedule was suspended")
        }
        var tickBuilds: Set<Int64> = []
        for occurrence in occurrences {
            #expect(occurrence.outcome == .started, "\(occurrence)")
            // The occurrence and its build are written in one transaction: never one without the other.
            guard let id = occurrence.buildID, let build = byID[id] else {
                Issue.record("occurrence without a build: \(occurrence)")
                continue
            }
            #expect(tickBuilds.insert(id).inserted)
            #expect(
                build.state == .successful
                    || (build.node == victim && build.exception?["type"]?.stringValue == "DaemonLost"), "\(build)")
        }
        #expect(builds.filter { $0.jobID == "tick" }.count == tickBuilds.count, "a tick build without its occurrence")
        let tickLines = try String(contentsOfFile: ticks, encoding: .utf8).split(separator: "\n").compactMap {
            Int64($0)
        }
        #expect(tickLines.count == Set(tickLines).count, "a tick build ran twice")

        // Logs of a build are readable through any daemon.
        let someBuild = try #require(builds.first { $0.node == "n3" && $0.state == .successful })
        let logs = try await daemons[0].jobctl("logs", String(someBuild.id))
        #expect(logs.status == 0, "\(logs.stdout)\(logs.stderr)")
        for daemon in daemons { try await daemon.stop() }
        #expect(try storage.clusterNodes().allSatisfy { $0.state == "stopped" })
    }
}
