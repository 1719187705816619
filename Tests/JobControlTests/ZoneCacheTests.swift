import Foundation
import Testing

@testable import JobControlSchedule

/// Zone files are read once and kept while they are the same file (a 10,000-job configuration
/// names the same zones thousands of times); a replaced file (a tzdata upgrade) is read again.
@Suite struct ZoneCacheTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jc-zonecache-\(UUID())").path

    init() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func copy(_ zone: String, to path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: "/usr/share/zoneinfo/" + zone))
        // Written beside and renamed over, as dpkg replaces a package's files.
        try data.write(to: URL(fileURLWithPath: path + ".new"))
        guard rename(path + ".new", path) == 0 else { throw POSIXError(.EIO) }
    }

    @Test func anUnchangedFileIsReadOnceAndAReplacedOneAgain() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/zone"
        let summer: Int64 = 1_751_371_200  // 2025-07-01 12:00 UTC
        try copy("Europe/Berlin", to: path)
        let first = try ZoneRules.load(file: path, name: "Test/Zone")
        #expect(first.localTimeType(at: summer).utcOffset == 7200)
        #expect(try ZoneRules.load(file: path, name: "Test/Zone") === first)

        try copy("Asia/Tokyo", to: path)
        let replaced = try ZoneRules.load(file: path, name: "Test/Zone")
        #expect(replaced !== first)
        #expect(replaced.localTimeType(at: summer).utcOffset == 9 * 3600)

        try FileManager.default.removeItem(atPath: path)
        #expect(throws: ZoneError.unknownZone("Test/Zone")) { try ZoneRules.load(file: path, name: "Test/Zone") }
    }

    @Test func theSameFileUnderTwoNamesKeepsEachName() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/zone"
        try copy("Europe/Berlin", to: path)
        #expect(try ZoneRules.load(file: path, name: "A").name == "A")
        #expect(try ZoneRules.load(file: path, name: "B").name == "B")
        #expect(try ZoneRules.load(file: path, name: "A").name == "A")
    }

    @Test func theLocalZoneIsNamedByItsLink() {
        #expect(ZoneRules.zoneName(linkTarget: "/usr/share/zoneinfo/Europe/Berlin") == "Europe/Berlin")
        #expect(ZoneRules.zoneName(linkTarget: "../usr/share/zoneinfo/UTC") == "UTC")
        #expect(ZoneRules.zoneName(linkTarget: "/etc/zones/berlin") == "localtime")
        #expect(ZoneRules.zoneName(linkTarget: "zoneinfo") == "localtime")
    }

    @Test func zoneNamesAreCheckedAsSystemdChecksThem() {
        #expect(ZoneRules.isValidName("Europe/Berlin"))
        #expect(ZoneRules.isValidName("Etc/GMT+5"))
        #expect(!ZoneRules.isValidName("Europe/Berlín"))
        #expect(!ZoneRules.isValidName("Europe//Berlin"))
        #expect(!ZoneRules.isValidName("/etc/localtime"))
        #expect(!ZoneRules.isValidName("Europe/Berlin/"))
        #expect(!ZoneRules.isValidName("../zoneinfo/UTC"))
    }
}
