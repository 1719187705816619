import Foundation
import Testing

@testable import JobControl
@testable import JobControlSchedule

/// Every case of `Fixtures/calendar-corpus.txt` evaluated by our engine and by the machine's own
/// `systemd-analyze calendar`, which must agree on acceptance, the normalized form and the next
/// five elapses — DST changes, nonexistent and repeated local times, leap days and all.
@Suite struct CalendarSystemdTests {
    struct Case: Sendable {
        let expression: String
        let zone: String
        let base: String
        let line: Int
    }

    static let corpusURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/calendar-corpus.txt")

    static func corpus() throws -> (valid: [Case], invalid: [(String, Int)], malformed: [Int]) {
        let text = try String(contentsOf: corpusURL, encoding: .utf8)
        var valid: [Case] = []
        var invalid: [(String, Int)] = []
        var malformed: [Int] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("!") {
                invalid.append((String(line.dropFirst()), index + 1))
                continue
            }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 3 else {
                malformed.append(index + 1)  // reported by corpusIsLargeEnough, never dropped silently
                continue
            }
            valid.append(Case(expression: fields[0], zone: fields[1], base: fields[2], line: index + 1))
        }
        return (valid, invalid, malformed)
    }

    /// What systemd-analyze printed for one expression: its normalized form and elapses in
    /// seconds since the epoch.
    struct Reference: Equatable, CustomStringConvertible {
        var normalized: String
        var elapses: [Int64]
        var description: String { "\(normalized) \(elapses)" }
    }

    static func systemdAnalyze(_ testCase: Case, iterations: Int) throws -> Reference? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/systemd-analyze")
        process.arguments = [
            "calendar", "--iterations=\(iterations)", "--base-time=\(testCase.base)", "--", testCase.expression,
        ]
        process.environment = ["TZ": testCase.zone, "PATH": "/usr/bin:/bin", "SYSTEMD_COLORS": "0"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        var reference = Reference(normalized: "", elapses: [])
        var pending: String?
        func flush() {
            if let pending, let instant = parseDisplayed(pending) { reference.elapses.append(instant) }
            pending = nil
        }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("Normalized form: ") {
                reference.normalized = String(trimmed.dropFirst("Normalized form: ".count))
            } else if trimmed.hasPrefix("Next elapse: ") || trimmed.hasPrefix("Iter. #") {
                flush()
                let value = trimmed[trimmed.index(after: trimmed.firstIndex(of: ":")!)...].trimmingCharacters(
                    in: .whitespaces)
                if value != "never" { pending = value }
            } else if trimmed.hasPrefix("(in UTC): ") {
                pending = String(trimmed.dropFirst("(in UTC): ".count))
            }
        }
        flush()
        return reference
    }

    /// `Sun 2025-10-26 00:30:00 UTC` → seconds since the epoch.
    static func parseDisplayed(_ text: String) -> Int64? {
        let words = text.split(separator: " ")
        guard words.count == 4, words[3] == "UTC" else { return nil }
        let date = words[1].split(separator: "-").compactMap { Int($0) }
        let time = words[2].split(separator: ":").compactMap { Int($0) }
        guard date.count == 3, time.count == 3 else { return nil }
        return CivilTime(
            year: date[0], month: date[1] - 1, day: date[2], hour: time[0], minute: time[1], second: time[2]
        ).wallSeconds
    }

    static func ours(_ testCase: Case, iterations: Int) throws -> Reference {
        let local = ZoneRules.local(environment: ["TZ": testCase.zone])
        let spec = try CalendarSpec(parsing: testCase.expression, localZone: local)
        var clock = CivilClock(zone: spec.zone(default: local))
        var cursor = try ScheduleTime.parse(testCase.base, zone: local)
        var elapses: [Int64] = []
        for _ in 0..<iterations {
            // systemd evaluates expressions with their own zone in a fresh child process.
            let next =
                spec.timezone == nil
                ? spec.nextElapse(after: cursor, clock: &clock) : spec.nextElapse(after: cursor, localZone: local)
            guard let next else { break }
            elapses.append(next.floorDivided(by: 1_000_000).quotient)
            cursor = next
        }
        return Reference(normalized: spec.normalized(localZone: local), elapses: elapses)
    }

    /// `TZ` set to a POSIX rule rather than a zone name: glibc applies its summer time at every
    /// instant (it was applied nowhere: an hour off all summer).
    @Test func posixRuleStringsInTZKeepTheirSummerTime() throws {
        let cases = [
            Case(expression: "12:00", zone: "CET-1CEST,M3.5.0,M10.5.0/3", base: "2024-06-15 10:17:23 UTC", line: 0),
            Case(expression: "*-*-* 02:30", zone: "EST5EDT,M3.2.0,M11.1.0", base: "2024-03-09 12:00:00 UTC", line: 0),
            Case(
                expression: "*-*-* 02:30", zone: "CET-1CEST,M3.5.0,M10.5.0/3", base: "2024-10-26 12:00:00 UTC", line: 0),
            Case(
                expression: "12:00 CEST", zone: "CET-1CEST,M3.5.0,M10.5.0/3", base: "2024-06-15 10:17:23 UTC", line: 0),
            Case(
                expression: "Mon *-*-* 09:00", zone: "NZST-12NZDT,M9.5.0,M4.1.0/3", base: "2024-09-20 00:00:00 UTC",
                line: 0),
        ]
        for testCase in cases {
            let reference = try Self.systemdAnalyze(testCase, iterations: 5)
            #expect(reference != nil && reference?.elapses.isEmpty == false, "systemd: \(testCase.expression)")
            #expect(try Self.ours(testCase, iterations: 5) == reference, "\(testCase.expression) TZ=\(testCase.zone)")
        }
    }

    /// Where systemd 252 gives up ("Infinite loop in calendar calculation": a field reset across
    /// a year's end keeps the summer-time flag), a timer with the expression stops elapsing, and
    /// ours returned "never" silently. Ours now elapses as the same dates written as a list do in
    /// systemd itself, the oracle here.
    @Test func systemdsInfiniteLoopCasesElapseAsTheirListForm() throws {
        let cases = [
            ("*-2/8-1 12:00", "*-02,10-01 12:00", "Europe/Berlin", "2023-11-15 12:00:00 UTC"),
            ("*-2/8-1", "*-02,10-01", "America/New_York", "2023-12-15 12:00:00 UTC"),
            ("*-2/8-1", "*-02,10-01", "Europe/Berlin", "2024-03-15 12:00:00 UTC"),
        ]
        for (looping, list, zone, base) in cases {
            let ours = try Self.ours(Case(expression: looping, zone: zone, base: base, line: 0), iterations: 5)
            let reference = try Self.systemdAnalyze(
                Case(expression: list, zone: zone, base: base, line: 0), iterations: 5)
            #expect(ours.elapses.count == 5 && ours.elapses == reference?.elapses, "\(looping) TZ=\(zone) from \(base)")
        }
    }

    @Test func corpusIsLargeEnough() throws {
        let corpus = try Self.corpus()
        #expect(corpus.malformed.isEmpty, "lines that are neither a case nor a comment: \(corpus.malformed)")
        #expect(corpus.valid.count >= 200)
        #expect(corpus.invalid.count >= 40)
    }

    @Test func validExpressionsAgreeWithSystemdAnalyze() async throws {
        let mismatches = try await onOwnThread { try Self.compareValid() }
        #expect(
            mismatches.isEmpty,
            Comment(rawValue: "\(mismatches.count) mismatches:\n" + mismatches.joined(separator: "\n")))
    }

    static func compareValid() throws -> [String] {
        var mismatches: [String] = []
        for testCase in try Self.corpus().valid {
            guard let reference = try Self.systemdAnalyze(testCase, iterations: 5) else {
                mismatches.append("line \(testCase.line): systemd-analyze rejects '\(testCase.expression)'")
                continue
            }
            do {
                let ours = try Self.ours(testCase, iterations: 5)
                if ours != reference {
                    mismatches.append(
                        "line \(testCase.line): '\(testCase.expression)' TZ=\(testCase.zone) base \(testCase.base): systemd \(reference), ours \(ours)"
                    )
                }
            } catch {
                mismatches.append("line \(testCase.line): we reject '\(testCase.expression)': \(error)")
            }
        }
        return mismatches
    }

    @Test func invalidExpressionsAreRejectedByBoth() async throws {
        let mismatches = try await onOwnThread { try Self.compareInvalid() }
        #expect(
            mismatches.isEmpty,
            Comment(rawValue: "\(mismatches.count) mismatches:\n" + mismatches.joined(separator: "\n")))
    }

    static func compareInvalid() throws -> [String] {
        var mismatches: [String] = []
        for (expression, line) in try Self.corpus().invalid {
            let probe = Case(expression: expression, zone: "UTC", base: "2025-01-01 00:00:00 UTC", line: line)
            if try Self.systemdAnalyze(probe, iterations: 1) != nil {
                mismatches.append("line \(line): systemd-analyze accepts '\(expression)'")
            }
            if let spec = try? CalendarSpec(parsing: expression, localZone: .utc) {
                mismatches.append("line \(line): we accept '\(expression)' as '\(spec.normalized(localZone: .utc))'")
            }
        }
        return mismatches
    }
}
