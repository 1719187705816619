import Foundation
import JobControl
import Testing

/// Schedules in the real daemon, on the real clock: the timer fires, occurrences are recorded
/// once across a restart and a crash, and jobctl shows what is coming and what happened.
@Suite struct ScheduleIntegrationTests {
    static let config = """
        jobs:
          - id: every-second
            command: 'true'
            schedule: '*:*:0/1'
          - id: later
            command: 'true'
            schedule: ['Mon..Fri 09:00', {every: 1d}]
            timezone: Europe/Berlin
            persistent: true
        """

    func occurrences(_ database: String) throws -> [Occurrence] {
        try StorageFactory.open(url: "sqlite://" + database).occurrences(
            jobID: "every-second", outcome: nil, limit: 10_000)
    }

    func started(_ database: String) -> Int {
        ((try? occurrences(database)) ?? []).filter { $0.buildID != nil }.count
    }

    @Test func scheduledBuildsRunOncePerOccurrenceAcrossRestartAndCrash() async throws {
        var daemon = try await DaemonProcess(config: Self.config)
        let database = daemon.database
        try await waitFor("three scheduled builds") { started(database) >= 3 }
        try await daemon.stop()
        daemon = try await DaemonProcess(directory: daemon.directory)
        try await waitFor("two more scheduled builds") { started(database) >= 5 }
        daemon.kill()
        daemon = try await DaemonProcess(directory: daemon.directory)
        try await waitFor("two more after the crash") { started(database) >= 7 }

        let next = try await daemon.jobctl("--json", "next")
        #expect(next.status == 0, "\(next.stderr)")
        let runs = try JSONValue.parse(next.stdout)
        guard case .array(let list) = runs else { throw TestFailure("expected a list: \(next.stdout)") }
        #expect(list.compactMap { $0["job"]?.stringValue } == ["every-second", "later"])
        #expect(list[1]["schedules"] == ["Mon..Fri 09:00", "every 1d"])
        #expect(list[1]["persistent"] == true)
        try await daemon.stop()

        // Every occurrence once; every build for a distinct occurrence; none left running.
        let storage = try StorageFactory.open(url: "sqlite://" + database)
        let recorded = try occurrences(database)
        #expect(Set(recorded.map(\.due)).count == recorded.count)
        let builds = try storage.getJobBuilds(
            jobID: "every-second", filter: BuildFilter(), order: .ascending, limit: 10_000)
        let triggers = builds.compactMap { $0.config["build"]?["trigger"]?["occurrence"]?.stringValue }
        #expect(triggers.count == builds.count)
        #expect(Set(triggers).count == triggers.count)
        #expect(builds.allSatisfy { $0.finished })
        // No silent gap: every second from the first occurrence to the last has a record (the
        // downtimes between daemons as missed ones).
        let dues = recorded.map(\.due).sorted()
        #expect(zip(dues, dues.dropFirst()).allSatisfy { $1 - $0 == 1_000_000 }, "\(dues)")
    }

    @Test func suspendResumeAndShowTheNextRun() async throws {
        let daemon = try await DaemonProcess(config: Self.config)
        #expect(try await daemon.jobctl("suspend", "later").status == 0)
        let suspended = try await daemon.jobctl("next")
        #expect(suspended.stdout.contains("suspended"), "\(suspended.stdout)")
        let jobs = try await daemon.jobctl("--json", "show", "later")
        #expect(jobs.stdout.contains("\"suspended\" : true"), "\(jobs.stdout)")
        #expect(try await daemon.jobctl("resume", "later").status == 0)
        let one = try await daemon.jobctl("next", "later", "--count", "3")
        #expect(one.status == 0)
        #expect(one.stdout.contains("concurrency: forbid, persistent: yes"), "\(one.stdout)")
        let unscheduled = try await daemon.jobctl("suspend", "nope")
        #expect(unscheduled.status != 0)
        #expect(unscheduled.stderr.contains("no job with id 'nope'"), "\(unscheduled.stderr)")
        let status = try await daemon.jobctl("status")
        #expect(status.stdout.contains("next:"), "\(status.stdout)")
        try await daemon.stop()
    }

    @Test func jobctlCalendarPrintsWhatSystemdAnalyzePrints() async throws {
        let arguments = [
            // Twelve: from "Iter. #10" on, the label is right-aligned as systemd's is.
            "calendar", "--iterations=12", "--base-time=2026-03-28 12:00 UTC", "Sat,Sun *-*-* 02:30", "*:0/20",
        ]
        let environment = ["TZ": "Europe/Berlin"]
        let ours = try await runProcess(Binaries.jobctl, arguments, environment: environment)
        let systemd = try await runProcess("/usr/bin/systemd-analyze", arguments, environment: environment)
        #expect(ours.status == 0)
        let withoutRelative = systemd.stdout.split(separator: "\n", omittingEmptySubsequences: false).filter {
            !$0.contains("From now")
        }.joined(separator: "\n")
        #expect(ours.stdout.trimmingCharacters(in: .newlines) == withoutRelative.trimmingCharacters(in: .newlines))
        // --iterations 0: the forms only, "never" not said either.
        for expression in ["daily", "2020-01-01"] {
            let arguments = ["calendar", "--iterations", "0", expression]
            let ours = try await runProcess(Binaries.jobctl, arguments, environment: environment)
            let systemd = try await runProcess("/usr/bin/systemd-analyze", arguments, environment: environment)
            #expect(ours.status == 0 && ours.stdout == systemd.stdout, "\(expression): \(ours.stdout)")
        }
        let negative = try await runProcess(Binaries.jobctl, ["calendar", "--iterations", "-1", "daily"])
        #expect(negative.status == 64, "\(negative.stderr)")
        // No "(in UTC)" lines where local time is UTC by another name, as in systemd.
        for zone in ["Etc/UTC", "Africa/Abidjan", "GMT", "Asia/Kolkata"] {
            let arguments = ["calendar", "--base-time=2026-03-28 12:00 UTC", "daily"]
            let ours = try await runProcess(Binaries.jobctl, arguments, environment: ["TZ": zone])
            let systemd = try await runProcess("/usr/bin/systemd-analyze", arguments, environment: ["TZ": zone])
            let shown = systemd.stdout.split(separator: "\n").filter { !$0.contains("From now") }.joined(
                separator: "\n")
            #expect(ours.stdout.trimmingCharacters(in: .newlines) == shown, "TZ=\(zone)")
        }

        let json = try await runProcess(
            Binaries.jobctl,
            ["--json", "calendar", "--base-time=2026-10-24 23:00 UTC", "--iterations=2", "30 2 * * *"],
            environment: environment)
        let value = try JSONValue.parse(json.stdout)
        #expect(value["kind"] == "cron")
        // 02:30 on the fall-back day happens twice; cron runs it once, at the first (CEST).
        #expect(value["next"] == ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"])
        let bad = try await runProcess(Binaries.jobctl, ["calendar", "Mon 25:00"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("invalid calendar expression 'Mon 25:00'"))
        // With --json, an expression that does not parse keeps its place in stdout, with its reason.
        let mixed = try await runProcess(Binaries.jobctl, ["--json", "calendar", "Mon 25:00", "daily"])
        #expect(mixed.status == 1)
        guard case .array(let entries) = try JSONValue.parse(mixed.stdout), entries.count == 2 else {
            Issue.record("expected two entries: \(mixed.stdout)")
            return
        }
        #expect(entries[0]["original"] == "Mon 25:00")
        #expect(entries[0]["error"]?.stringValue?.contains("invalid calendar expression") == true)
        #expect(entries[1]["normalized"] == "*-*-* 00:00:00")
    }
}
