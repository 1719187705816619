import Foundation
import Testing

extension ExclusiveTests {
    /// Faults injected into the real binaries (issue "Survive faults"; docs/operations.md, "Faults"):
    /// the scripts beside this file run each fault, check the daemon is alive and answering, no
    /// build is left unfinished, nothing acknowledged is lost, and print one PASS/FAIL line per fault.
    @Suite struct FaultTests {
        static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "Scripts")
        static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()

        static func runScript(_ name: String, _ arguments: [String], timeout: Duration) async throws -> ProcessResult {
            let work = try TemporaryDirectory()
            let result = try await runProcess(
                "/usr/bin/env",
                [
                    "python3", scripts.appendingPathComponent(name).path, "--jobcontrold", Binaries.jobcontrold,
                    "--jobctl",
                    Binaries.jobctl,
                    "--workdir", work.path,
                ] + arguments,
                timeout: timeout)
            // Indented: the script's own "N passed, M failed" is not the suite's closing line.
            print(result.stdout.split(separator: "\n").map { "  | " + $0 }.joined(separator: "\n"))
            return result
        }

        /// SQLite, the socket and reload: a second daemon on one database, a full disk, a flood of
        /// idle connections from an unprivileged user, parallel 7 MB requests, reloads of empty and
        /// truncated files racing a writer.
        @Test func localFaults() async throws {
            let result = try await Self.runScript("local_faults.py", [], timeout: .seconds(400))
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
            #expect(result.stdout.contains(" 0 failed"), "\(result.stdout)")
        }

        /// A daemon killed while its database's disk is full (the space set aside for that taken
        /// too) and started again on the full disk: it starts and answers, and finishes the left
        /// build once space is back (it exited 74 on every start until then).
        @Test func aRestartOnAFullDisk() async throws {
            let result = try await Self.runScript("disk_full_restart.py", [], timeout: .seconds(180))
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
            #expect(result.stdout.contains(" 0 failed"), "\(result.stdout)")
        }

        /// PostgreSQL restarted, terminated and stopped under builds and schedules, and down or
        /// misnamed at start. On a server of its own (started here): the restarts must not hit the
        /// other suites' server.
        @Test func postgresFaults() async throws {
            let sandbox = Self.repository.appendingPathComponent("scripts/postgres-sandbox.sh").path
            let port = 56_000 + Int.random(in: 0..<900)
            let started = try await runProcess(sandbox, ["start", String(port)], timeout: .seconds(120))
            try #require(started.status == 0, "cannot start a PostgreSQL server: \(started.stderr)")
            var exports: [String: String] = [:]
            for line in started.stdout.split(separator: "\n") where line.hasPrefix("export ") {
                let pair = line.dropFirst("export ".count).split(separator: "=", maxSplits: 1).map(String.init)
                if pair.count == 2 { exports[pair[0]] = pair[1] }
            }
            let directory = try #require(exports["PGSANDBOX_DIR"]),
                url = try #require(exports["JOBCONTROL_TEST_PG_URL"])
            defer { _ = try? runProcessSync(sandbox, ["stop", directory]) }
            let result = try await Self.runScript(
                "pg_faults.py", ["--pgdir", directory, "--url", url], timeout: .seconds(400))
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
            #expect(result.stdout.contains(" 0 failed"), "\(result.stdout)")
        }
    }
}

/// For cleanup in `defer`, where `await` is not allowed.
func runProcessSync(_ path: String, _ arguments: [String]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    _ = exitStatus(of: process)
}
