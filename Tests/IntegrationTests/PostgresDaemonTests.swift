import Foundation
import JobControl
import Testing

/// The daemon on PostgreSQL (scripts/test.sh starts a throwaway server): builds, logs and
/// schedules work as on SQLite, and a second daemon under the same node name refuses to start
/// rather than treating the first one's builds as its own.
@Suite(
    .enabled(
        if: ProcessInfo.processInfo.environment["JOBCONTROL_TEST_PG_URL"] != nil,
        "no PostgreSQL server: set JOBCONTROL_TEST_PG_URL (scripts/test.sh starts one)"))
struct PostgresDaemonTests {
    @Test func aDaemonRunsOnPostgreSQLAndASecondOneOfTheSameNameIsRefused() async throws {
        let (storage, url) = try ClusterTests.freshSchema("daemon")
        defer { try? storage.uninstall() }
        let config =
            "storage: \(url)\njobs:\n  - {id: hello, command: 'echo hello from postgres'}\n  - {id: long, command: 'sleep 60'}\n"
        let directory = try TemporaryDirectory()
        try directory.write("jobcontrol.yaml", config)
        // DaemonProcess passes --storage for SQLite; this daemon takes the config's URL instead.
        let first = try await DaemonProcess(directory: directory, environment: [:], storageURL: url)
        let run = try await first.jobctl("run", "hello", "--wait")
        #expect(run.status == 0, "\(run.stderr)")
        let logs = try await first.jobctl("logs", "1")
        #expect(logs.stdout.contains("hello from postgres"), "\(logs.stdout)\(logs.stderr)")

        let second = try await runProcess(
            Binaries.jobcontrold,
            ["--config", directory.file("jobcontrol.yaml"), "--socket", directory.file("second.sock")],
            timeout: .seconds(60))
        #expect(second.status == 74)
        #expect(second.stderr.contains("another running jobcontrold already uses the node name"), "\(second.stderr)")

        // A second daemon under another name joins; a build running on the first is cancelled
        // through the second, and both show in the cluster's status.
        let long = try await first.jobctl("run", "long")
        #expect(long.status == 0, "\(long.stderr)")
        try await waitFor("the long build to start") { (try? storage.getBuild(2))?.started == true }
        let other = try await DaemonProcess(
            directory: directory, storageURL: url, name: "other", arguments: ["--node", "other"])
        let status = try await other.jobctl("status")
        #expect(
            status.stdout.contains("cluster: 2 daemons") && status.stdout.contains("this one is other"),
            "\(status.stdout)")
        let cancel = try await other.jobctl("cancel", "2")
        #expect(cancel.status == 0, "\(cancel.stderr)")
        try await waitFor("the build to end") { (try? storage.getBuild(2))?.finished == true }
        let cancelled = try #require(try storage.getBuild(2))
        #expect(cancelled.exception?["type"]?.stringValue == "Cancelled" && cancelled.node != "other", "\(cancelled)")
        // The first daemon runs the schedules; when it stops, the other takes them over at once.
        #expect(try storage.clusterNodes().first { $0.schedules }?.node != "other")
        try await first.stop()
        try await waitFor("the other daemon to run the schedules", timeout: .seconds(10)) {
            (try? storage.clusterNodes().first { $0.node == "other" }?.schedules) == true
        }
        try await other.stop()
        #expect(try storage.clusterNodes().allSatisfy { $0.state == "stopped" && !$0.schedules })
    }

    /// A node claims only builds it can start: builds of a pool that is full on it stay in the
    /// shared queue for the others (they piled up in its own queue, waiting while other nodes sat
    /// idle), and a node that stops leaves no claimed build behind.
    @Test func aNodeClaimsOnlyWhatItsPoolsCanStart() async throws {
        let (storage, url) = try ClusterTests.freshSchema("pools")
        defer { try? storage.uninstall() }
        let directory = try TemporaryDirectory()
        let gate = directory.file("go")
        try directory.write(
            "jobcontrol.yaml",
            """
            storage: \(url)
            workers: 4
            pools: {serial: {workers: 1}}
            jobs:
              - {id: one-at-a-time, command: 'while [ ! -e \(gate) ]; do sleep 0.05; done', pool: serial}
              - {id: free, command: 'true'}
            """)
        let daemon = try await DaemonProcess(directory: directory, storageURL: url, arguments: ["--node", "leaver"])
        var ids: [Int64] = []
        for job in ["one-at-a-time", "one-at-a-time", "one-at-a-time", "free"] {
            let run = try await daemon.jobctl("--json", "run", job)
            ids.append(try #require(try JSONValue.parse(run.stdout)["id"]?.intValue))
        }
        // `free` is newer than the three: once it has run, the node has claimed past them, and
        // it holds only the one of them it runs (the first, waiting for the gate).
        try await waitFor("the free build to run") { (try? storage.getBuild(ids[3]))??.finished == true }
        let held = try ids.prefix(3).filter { try storage.getBuild($0)?.node == "leaver" }
        #expect(held == [ids[0]], "the node holds \(held) of \(ids.prefix(3))")
        _ = FileManager.default.createFile(atPath: gate, contents: nil)
        try await waitFor("the pooled builds to run, one after another") {
            ids.allSatisfy { (try? storage.getBuild($0))??.finished == true }
        }
        try await daemon.stop()
        #expect(try storage.claimedUnstarted(node: "leaver").isEmpty)
    }
}
