import Foundation
import Testing

@testable import JobControl
@testable import JobControlSchedule

/// `Fixtures/cron-corpus.txt`: cron expressions with the next three firings computed by an
/// independent brute-force reference (`Fixtures/cron-reference.py`), DST cases included, and
/// expressions cronie rejects.
@Suite struct CronTests {
    static let corpusURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/cron-corpus.txt")

    static func lines() throws -> [(line: Int, text: Substring)] {
        try String(contentsOf: corpusURL, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            .enumerated().map { ($0.offset + 1, $0.element) }
            .filter { !$0.1.isEmpty && !$0.1.hasPrefix("#") }
    }

    static func parseUTC(_ text: Substring) throws -> Int64 {
        try ScheduleTime.parse(String(text), zone: .utc) / 1_000_000
    }

    /// The fixture is what the reference computes today (not a stale copy): CI runs it again.
    @Test func theReferenceStillProducesTheCorpus() throws {
        let script = Self.corpusURL.deletingLastPathComponent().appendingPathComponent("cron-reference.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, "--check", Self.corpusURL.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "cron-reference.py --check: \(text)")
        #expect(text.contains("mismatches: 0"), "\(text)")
    }

    @Test func firingsAgreeWithTheReference() throws {
        var mismatches: [String] = []
        var count = 0
        for (line, text) in try Self.lines() where !text.hasPrefix("!") {
            let fields = text.split(separator: "\t")
            try #require(fields.count == 4, "line \(line)")
            let cron = try CronExpression(parsing: String(fields[0]))
            let zone = try ZoneRules.load(named: String(fields[1]))
            var cursor = try Self.parseUTC(fields[2])
            var ours: [Int64] = []
            for _ in 0..<3 {
                guard let next = cron.nextFiring(after: cursor, zone: zone) else { break }
                ours.append(next)
                cursor = next
            }
            let expected = try fields[3].split(separator: ",").map(Self.parseUTC)
            if ours != expected {
                mismatches.append(
                    "line \(line): '\(fields[0])' \(fields[1]) from \(fields[2]): expected \(expected), got \(ours)")
            }
            count += 1
        }
        #expect(count >= 80)
        #expect(mismatches.isEmpty, Comment(rawValue: mismatches.joined(separator: "\n")))
    }

    @Test func invalidExpressionsAreRejected() throws {
        var accepted: [String] = []
        for (line, text) in try Self.lines() where text.hasPrefix("!") {
            if (try? CronExpression(parsing: String(text.dropFirst()))) != nil {
                accepted.append("line \(line): \(text)")
            }
        }
        #expect(accepted.isEmpty, Comment(rawValue: accepted.joined(separator: "\n")))
    }

    @Test func errorsSayWhatIsWrong() {
        #expect(throws: ScheduleError.invalidCron("0 0 * *", reason: "expected 5 fields, found 4")) {
            try CronExpression(parsing: "0 0 * *")
        }
        #expect(throws: ScheduleError.invalidCron("61 * * * *", reason: "minute field '61': 61 is outside 0-59")) {
            try CronExpression(parsing: "61 * * * *")
        }
    }

    @Test func scheduleStringsAreCronOrCalendarByShape() throws {
        #expect(try Schedule.parse("30 2 * * mon-fri").kind == "cron")
        #expect(try Schedule.parse("@daily").kind == "cron")
        #expect(try Schedule.parse("@reboot").kind == "reboot")
        #expect(try Schedule.parse("@1700000000").kind == "calendar")
        #expect(try Schedule.parse("Mon..Fri 9:00").kind == "calendar")
        #expect(try Schedule.interval("15m").next(after: 0) == 900_000_000)
    }
}
