import Foundation
import JobControl
import Testing

/// The daemon on PostgreSQL (scripts/test.sh starts a throwaway server): builds, logs and
/// schedules work as on SQLite, and a second daemon on the same database refuses to start rather
/// than treating the first one's builds as its own.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["JOBCONTROL_TEST_PG_URL"] != nil))
struct PostgresDaemonTests {
    static let url = ProcessInfo.processInfo.environment["JOBCONTROL_TEST_PG_URL"] ?? ""

    @Test func aDaemonRunsOnPostgreSQLAndASecondOneIsRefused() async throws {
        let config = "storage: \(Self.url)\njobs:\n  - {id: hello, command: 'echo hello from postgres'}\n"
        let directory = try TemporaryDirectory()
        try directory.write("jobcontrol.yaml", config)
        // DaemonProcess passes --storage for SQLite; this daemon takes the config's URL instead.
        let first = try await DaemonProcess(directory: directory, environment: [:], storageURL: Self.url)
        let run = try await first.jobctl("run", "hello", "--wait")
        #expect(run.status == 0, "\(run.stderr)")
        let logs = try await first.jobctl("logs", "1")
        #expect(logs.stdout.contains("hello from postgres"), "\(logs.stdout)\(logs.stderr)")

        let second = try await runProcess(
            Binaries.jobcontrold, ["--config", directory.file("jobcontrol.yaml"), "--socket", directory.file("second.sock")], timeout: .seconds(60))
        #expect(second.status == 74)
        #expect(second.stderr.contains("another jobcontrold already uses this PostgreSQL database"), "\(second.stderr)")
        try await first.stop()
    }
}
