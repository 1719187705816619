import Testing

@testable import JobControl
@testable import JobControlModel
@testable import JobControlSchedule

/// Values a hostile fuzz of the configuration, the socket and `jobctl` found mishandled: each
/// is refused with a reason, or shown, instead of trapping or being read as something else.
@Suite struct HostileValueTests {
    /// `--base-time` and the Calendar call's `base_time`: a word that is neither a zone nor the
    /// local zone's abbreviation, or a field that is not a number, is refused (both were dropped,
    /// so `10:00:00 EDT` and `10:00:xx` read as 10:00 UTC).
    @Test func baseTimesAreReadWholeOrRefused() throws {
        let berlin = try ZoneRules.load(named: "Europe/Berlin")
        for text in [
            "2024-06-15 10:00:00 EDT", "2024-06-15 10:00:xx", "2024-06-15 10:00 junk words", "2024-06--15",
            "2024-07-01 0x10:00", "2024-07-01 1e1:00",
        ] {
            #expect(throws: ScheduleError.self, "\(text)") { try ScheduleTime.parse(text, zone: .utc) }
        }
        // The local abbreviation pins summer or standard time in the repeated hour, as in systemd.
        let summer = try ScheduleTime.parse("2024-10-27 02:30:00 CEST", zone: berlin)
        let winter = try ScheduleTime.parse("2024-10-27 02:30:00 CET", zone: berlin)
        let utc = try ScheduleTime.parse("2024-10-27T00:30:00Z", zone: .utc)
        #expect(summer == utc)
        #expect(winter - summer == 3_600_000_000)
        // `CET` is a zone file too, but under Europe/Berlin it is the local winter time, in any case.
        let cet = try ScheduleTime.parse("2024-07-01 10:00 cet", zone: berlin)
        let nine = try ScheduleTime.parse("2024-07-01T09:00:00Z", zone: .utc)
        #expect(cet == nine)
        #expect(try ScheduleTime.parse("2024-07-01 10:00 utc", zone: berlin) == nine + 3_600_000_000)
    }

    /// A return value nested past 128 levels, or holding a number JSON cannot write, fails the
    /// build with the reason instead of being stored (where it broke listings, or became null).
    @Test func returnValuesThatCannotBeStoredFailTheBuild() {
        var deep: JSONValue = 1
        for _ in 0..<200 { deep = .array([deep]) }
        #expect(BuildEngine.retvalProblem(deep)?.contains("deeper than 128") == true)
        #expect(BuildEngine.retvalProblem(["a": .double(.infinity)])?.contains("JSON cannot write") == true)
        #expect(BuildEngine.retvalProblem(["a": [1, 2.5, "x", nil]]) == nil)
        let outcome = BuildEngine.bounded((true, deep, nil))
        #expect(!outcome.success && outcome.exception?.type == "ReturnValueNotStorable")
        #expect(throws: (any Error).self) { try JSONValue.parse("{\"a\": 1e309}") }
    }

    @Test func durationsPastAnyUseReadAsUnknown() {
        #expect(DurationFormatter.text(9.2e18) == "?")
        #expect(DurationFormatter.text(.nan) == "?" && DurationFormatter.text(-1) == "?")
        #expect(DurationFormatter.text(5400) == "1h30m")
    }
}
