import ArgumentParser
import FoundationEssentials
import Glibc
import JobControlModel
import JobControlProtocol
import JobControlSchedule

extension JobCtl {
    struct Next: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "next",
            abstract: "List upcoming scheduled runs, and what became of the latest ones.",
            discussion: """
                Without JOB: every scheduled job with its next start and its latest occurrence. With JOB: \
                its next COUNT occurrences and its recent ones (started, queued, skipped, missed, failed).
                """)

        @OptionGroup var global: GlobalOptions

        @Option(help: "How many upcoming occurrences to list per job.")
        var count = 1

        @Argument(help: "A scheduled job.")
        var job: String?

        func run() async throws {
            try Self.list(socket: global.socket, json: global.json, job: job, count: count)
        }

        /// Prints the upcoming runs of every scheduled job, or of `job` (also reached by
        /// ``FastPath``).
        static func list(socket: String?, json: Bool, job: String?, count: Int) throws {
            var parameters: [String: JSONValue] = ["count": .int(Int64(count))]
            if let job { parameters["job"] = .string(job) }
            let reply = try GlobalOptions.call(socket: socket, "\(Interfaces.manager).NextRuns", parameters)
            let runs = try arrayParameter(reply, "runs")
            if json {
                printJSON(.array(runs))
                return
            }
            if job == nil {
                printTable(
                    ["JOB", "NEXT", "LEFT", "SCHEDULE", "LAST OCCURRENCE"],
                    runs.map { run in
                        [
                            run["job"]?.stringValue ?? "?", Self.nextText(run), Self.leftText(run),
                            Self.strings(run["schedules"]).joined(separator: "; "), Self.occurrenceText(run["last"]),
                        ]
                    })
                return
            }
            for run in runs {
                print("\(run["job"]?.stringValue ?? "?"): \(Self.strings(run["schedules"]).joined(separator: "; "))")
                print(
                    "  concurrency: \(run["concurrency"]?.stringValue ?? "?"), persistent: \(run["persistent"]?.boolValue == true ? "yes" : "no")\(run["suspended"]?.boolValue == true ? ", SUSPENDED" : "")"
                )
                if let queued = run["queued"]?.intValue, queued > 0 { print("  queued: \(queued) occurrences") }
                for (index, due) in Self.strings(run["next"]).enumerated() {
                    print("  \(index == 0 ? "next:" : "     ") \(displayTime(WireFormat.date(.string(due))))")
                }
                if case .array(let recent)? = run["recent"], !recent.isEmpty {
                    print("  recent:")
                    for occurrence in recent { print("    \(Self.occurrenceText(occurrence))") }
                }
            }
        }

        static func strings(_ value: JSONValue?) -> [String] {
            if case .array(let values)? = value { return values.compactMap(\.stringValue) }
            return []
        }

        static func nextText(_ run: JSONValue) -> String {
            if run["enabled"]?.boolValue == false { return "disabled" }
            if run["suspended"]?.boolValue == true { return "suspended" }
            guard let starts = WireFormat.date(run["starts_at"]) else { return "never" }
            return displayTime(starts)
        }

        static func leftText(_ run: JSONValue) -> String {
            guard run["suspended"]?.boolValue != true, let starts = WireFormat.date(run["starts_at"]) else {
                return "-"
            }
            return DurationFormatter.text(max(0, starts.timeIntervalSinceNow))
        }

        /// `2026-11-29 09:00:00 started (build 12)`, `… missed: jobcontrold was not running`.
        static func occurrenceText(_ occurrence: JSONValue?) -> String {
            guard let occurrence, case .object = occurrence else { return "-" }
            var text = "\(displayTime(WireFormat.date(occurrence["due"]))) \(occurrence["outcome"]?.stringValue ?? "?")"
            if let build = occurrence["build"]?.intValue { text += " (build \(build))" }
            if let detail = occurrence["detail"]?.stringValue { text += ": \(detail)" }
            return text
        }
    }

    struct Suspend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "suspend",
            abstract: "Suspend a job's schedule (kept across restarts) without editing its file.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "A scheduled job.")
        var job: String

        func run() async throws {
            try Self.suspend(socket: global.socket, json: global.json, job: job)
        }

        /// Suspends the job's schedule (also reached by ``FastPath``).
        static func suspend(socket: String?, json: Bool, job: String) throws {
            _ = try GlobalOptions.call(socket: socket, "\(Interfaces.manager).Suspend", ["job": .string(job)])
            if !json { print("\(job): schedule suspended; 'jobctl resume \(job)' resumes it") }
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "resume",
            abstract: "Resume a suspended schedule from now on (what it missed meanwhile does not run).")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "A scheduled job.")
        var job: String

        func run() async throws {
            try Self.resume(socket: global.socket, json: global.json, job: job)
        }

        /// Resumes the job's schedule (also reached by ``FastPath``).
        static func resume(socket: String?, json: Bool, job: String) throws {
            _ = try GlobalOptions.call(socket: socket, "\(Interfaces.manager).Resume", ["job": .string(job)])
            if !json { print("\(job): schedule resumed") }
        }
    }
}
