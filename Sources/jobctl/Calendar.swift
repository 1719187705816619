import ArgumentParser
import FoundationEssentials
import Glibc
import JobControlModel
import JobControlSchedule

extension JobCtl {
    struct Calendar: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "calendar",
            abstract: "Evaluate schedule expressions offline, like systemd-analyze calendar.",
            discussion: """
                Accepts systemd calendar expressions ('Mon..Fri 9:00', 'daily', '*-*~1 23:00 Europe/Berlin'), \
                cron expressions ('30 2 * * mon-fri', '@hourly') and intervals ('every 15m'). Prints the \
                normalized form and the next elapses in local time (and in UTC when local time is not UTC by another name).
                """)

        @Flag(help: "Print JSON (ISO 8601 timestamps with offsets) instead of text.")
        var json = false

        @Option(help: "Evaluate from this time instead of now ('2026-03-29 12:00', '... UTC', ISO 8601, '@EPOCH').")
        var baseTime: String?

        @Option(help: "How many elapses to show (0: only the normalized form).")
        var iterations = 1

        @Option(help: "The zone for expressions that name none (default: local time).")
        var timezone: String?

        @Argument(help: "Schedule expressions.")
        var expressions: [String]

        func validate() throws {
            guard iterations >= 0 else { throw ValidationError("--iterations must be 0 or more") }
        }

        func run() async throws {
            let local = ZoneRules.local()
            var results: [JSONValue] = []
            var failed = false
            for (index, expression) in expressions.enumerated() {
                do {
                    let zone = try timezone.map { name throws(ScheduleError) in
                        guard let zone = try? ZoneRules.load(named: name) else { throw .unknownZone(name) }
                        return zone
                    }
                    let base =
                        try baseTime.map { text throws(ScheduleError) in try ScheduleTime.parse(text, zone: local) }
                        ?? ScheduleTime.currentMicroseconds()
                    let schedule = try Schedule.parse(expression: expression, zone: zone)
                    let elapses = iterations == 0 ? [] : schedule.elapses(after: base, count: iterations)
                    if json {
                        results.append([
                            "original": .string(expression), "normalized": .string(schedule.normalized),
                            "kind": .string(schedule.kind), "timezone": .string(schedule.zone.name),
                            "next": .array(elapses.map { .string(ScheduleTime.iso8601($0, zone: local)) }),
                        ])
                    } else {
                        if index > 0 { print() }
                        printElapses(expression, schedule, elapses, local: local)
                    }
                } catch {
                    printError("\(error)")
                    // Scripts read stdout: an expression that does not parse keeps its place in the
                    // JSON, with the reason, instead of vanishing from it.
                    if json { results.append(["original": .string(expression), "error": .string("\(error)")]) }
                    failed = true
                }
            }
            if json { printJSON(expressions.count == 1 ? results[0] : .array(results)) }
            if failed { throw ExitCode(1) }
        }

        func printElapses(_ expression: String, _ schedule: Schedule, _ elapses: [Int64], local: ZoneRules) {
            if expression != schedule.normalized { print("  Original form: \(expression)") }
            print("Normalized form: \(schedule.normalized)")
            // As systemd-analyze: --iterations 0 asks for no elapse, not even "never".
            guard iterations > 0 else { return }
            guard !elapses.isEmpty else {
                print("    Next elapse: never")
                return
            }
            for (index, elapse) in elapses.enumerated() {
                // Right-aligned to 15 columns, as systemd-analyze does ("      Iter. #10").
                let text = index == 0 ? "Next elapse" : "Iter. #\(index + 1)"
                let label = String(repeating: " ", count: max(0, 15 - text.count)) + text
                print("\(label): \(ScheduleTime.display(elapse, zone: local))")
                if !local.isUTCLike { print("       (in UTC): \(ScheduleTime.display(elapse, zone: .utc))") }
            }
        }
    }
}
