import Foundation
import JobControlModel
import Testing

/// `Timestamps` writes and reads ISO 8601 by hand; Foundation's formatter is the oracle.
@Suite struct TimestampsTests {
    static let oracle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// Same calendar fields as Foundation from 1583 on (before that Foundation switches to the
    /// Julian calendar; ISO 8601, and we, stay proleptic Gregorian). The milliseconds may differ by
    /// one: Foundation truncates the binary fraction (`.403` stored as `.40299…` prints `.402`);
    /// we round to the microsecond first, so what was read prints back the same.
    @Test func agreesWithFoundationAndRoundTrips() throws {
        var generator = SystemRandomNumberGenerator()
        var samples: [Double] = [0, -0.001, -1, 951_782_400, 4_102_444_799.999, -12_212_553_600, 1_709_164_800.5]
        for _ in 0..<5000 {
            samples.append(
                Double(Int64.random(in: -12_212_553_600_000...253_402_300_799_000, using: &generator)) / 1000)
        }
        for seconds in samples {
            let date = Date(timeIntervalSince1970: seconds)
            let ours = Timestamps.string(date)
            let oracle = try #require(try? Self.oracle.parse(date.formatted(Self.oracle)))
            let parsed = try #require(Timestamps.parse(ours), "\(ours)")
            #expect(abs(parsed.timeIntervalSince(oracle)) <= 0.0015, "\(seconds): \(ours)")
            // Round trips hold while a double resolves microseconds (until about the year 2200).
            if abs(seconds) < 7e9 { #expect(Timestamps.string(parsed) == ours, "\(seconds)") }
            let reread = try #require(try? Self.oracle.parse(ours))
            #expect(abs(parsed.timeIntervalSince(reread)) < 0.000_1, "\(ours)")
        }
    }

    @Test func readsOffsetsAndSecondsWithoutFraction() {
        #expect(Timestamps.parse("2026-12-02T14:31:32Z") == Date(timeIntervalSince1970: 1_796_221_892))
        #expect(Timestamps.parse("2026-12-02T15:31:32+01:00") == Date(timeIntervalSince1970: 1_796_221_892))
        #expect(Timestamps.parse("2026-12-02T14:31:32.250Z") == Date(timeIntervalSince1970: 1_796_221_892.25))
        #expect(
            Timestamps.string(Date(timeIntervalSince1970: 1_796_221_892.999), fractional: false)
                == "2026-12-02T14:31:32Z")
        for bad in [
            "", "2026-12-02", "2026-13-02T00:00:00Z", "2026-12-02T14:31:32", "2026-12-02T14:31:32.Z",
            "x026-12-02T14:31:32Z", "2026-12-02T14:31:32Zjunk",
        ] {
            #expect(Timestamps.parse(bad) == nil, "\(bad)")
        }
    }
}
