import Foundation
import Testing

/// `jobctl import` as a process: YAML on stdout or into a file, the notes on stderr, and the file
/// accepted by `jobcontrold --check-config` as a job file of a real configuration.
@Suite struct ImportCommandTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("JobControlTests/Fixtures/import")

    @Test func aCrontabAndATimerBecomeJobFilesTheDaemonAccepts() async throws {
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.file("jobs.d"), withIntermediateDirectories: true)
        let crontab = Self.fixtures.appendingPathComponent("cron/user-alice.crontab").path
        let cron = try await runProcess(
            Binaries.jobctl,
            [
                "import", "cron", crontab, "--user", "root", "--prefix", "alice-", "-o",
                directory.file("jobs.d/alice.yaml"),
            ])
        #expect(cron.status == 0, "\(cron.stderr)")
        #expect(cron.stdout.isEmpty)
        #expect(cron.stderr.contains("imported 17 jobs"), "\(cron.stderr)")
        #expect(cron.stderr.contains("user-alice.crontab:52: invalid: 61 * * * *"), "an invalid line is reported")
        // The file is not overwritten.
        let again = try await runProcess(
            Binaries.jobctl, ["import", "cron", crontab, "-o", directory.file("jobs.d/alice.yaml")])
        #expect(again.status != 0 && again.stderr.contains("File exists"), "\(again.stderr)")
        let timers = Self.fixtures.appendingPathComponent("timers").path
        let timer = try await runProcess(
            Binaries.jobctl, ["import", "timer", timers + "/logrotate.timer", "--unit-path", timers])
        #expect(timer.status == 0, "\(timer.stderr)")
        #expect(timer.stdout.contains("- id: \"logrotate\""), "\(timer.stdout)")
        try directory.write("jobs.d/timer.yaml", timer.stdout)
        // Standard input, as `crontab -l | jobctl import cron -`.
        let piped = try await runProcess(
            "/bin/sh", ["-c", "printf '*/5 * * * * echo hi\\n' | '\(Binaries.jobctl)' import cron --prefix piped- -"])
        #expect(piped.status == 0 && piped.stdout.contains("\"*/5 * * * *\""), "\(piped.stdout)\(piped.stderr)")
        try directory.write("jobs.d/piped.yaml", piped.stdout)
        try directory.write("jobcontrol.yaml", "storage: 'sqlite::memory:'\n")
        let check = try await runProcess(
            Binaries.jobcontrold, ["--check-config", "--config", directory.file("jobcontrol.yaml")])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("19 jobs") || check.stderr.contains("19 jobs"), "\(check.stdout)\(check.stderr)")
    }

    /// Refusals that leave nothing behind: --user on a system crontab (its user column would
    /// become part of every command), a directory, and a file with nothing to import (no -o file
    /// is left for a retry to trip over).
    @Test func mistakenImportsAreRefusedAndWriteNothing() async throws {
        let directory = try TemporaryDirectory()
        let system = try await runProcess(Binaries.jobctl, ["import", "cron", "/etc/crontab", "--user", "root"])
        #expect(system.status != 0 && system.stderr.contains("is a system crontab"), "\(system.stderr)")
        let folder = try await runProcess(Binaries.jobctl, ["import", "cron", directory.path])
        #expect(folder.status != 0 && folder.stderr.contains("is a directory"), "\(folder.stderr)")
        try directory.write("garbage.cron", "this is not a crontab\n")
        let garbage = try await runProcess(
            Binaries.jobctl, ["import", "cron", directory.file("garbage.cron"), "-o", directory.file("out.yaml")])
        #expect(garbage.status != 0)
        #expect(!FileManager.default.fileExists(atPath: directory.file("out.yaml")))
    }
}
