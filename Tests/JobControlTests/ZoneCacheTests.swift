import Foundation
import Synchronization
import Testing

@testable import JobControlSchedule

/// Zone files are read once and kept while they are the same file (a 10,000-job configuration
/// names the same zones thousands of times); a replaced or rewritten file is read again. Each
/// test has a cache of its own (configurations loaded by other tests meanwhile forget the
/// process's), and counts the reads.
@Suite struct ZoneCacheTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jc-zonecache-\(UUID())").path
    let cache = ZoneCache()
    let counter = ReadCounter()

    /// How often the file was read.
    final class ReadCounter: Sendable {
        let reads = Mutex(0)
    }

    init() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func copy(_ zone: String, to path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: "/usr/share/zoneinfo/" + zone))
        // Written beside and renamed over, as dpkg replaces a package's files.
        try data.write(to: URL(fileURLWithPath: path + ".new"))
        guard rename(path + ".new", path) == 0 else { throw POSIXError(.EIO) }
    }

    /// The zone at `path` through this test's cache, counting the reads of the file.
    func load(_ path: String, name: String = "Test/Zone") throws -> ZoneRules {
        try cache.rules(path: path, name: name) { path throws(ZoneError) in
            counter.reads.withLock { $0 += 1 }
            guard let data = FileManager.default.contents(atPath: path) else { throw .unknownZone(name) }
            return try TZifReader.parse([UInt8](data), name: name)
        }
    }

    @Test func anUnchangedFileIsReadOnceAndAReplacedOneAgain() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/zone"
        let summer: Int64 = 1_751_371_200  // 2025-07-01 12:00 UTC
        try copy("Europe/Berlin", to: path)
        let first = try load(path)
        #expect(first.localTimeType(at: summer).utcOffset == 7200)
        #expect(try load(path) === first)
        #expect(counter.reads.withLock { $0 } == 1)

        try copy("Asia/Tokyo", to: path)
        let replaced = try load(path)
        #expect(replaced.localTimeType(at: summer).utcOffset == 9 * 3600)
        #expect(counter.reads.withLock { $0 } == 2)

        try FileManager.default.removeItem(atPath: path)
        #expect(throws: ZoneError.unknownZone("Test/Zone")) { try load(path) }
    }

    /// `cp -p` over a kept zone file: the same inode, the same size (many tz files have the same),
    /// the modification time set back. Its change time tells.
    @Test func aFileRewrittenInPlaceWithItsTimesKeptIsReadAgain() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/zone"
        try copy("Etc/GMT+5", to: path)
        var before = stat()
        #expect(stat(path, &before) == 0)
        #expect(try load(path).localTimeType(at: 0).utcOffset == -5 * 3600)

        let data = try Data(contentsOf: URL(fileURLWithPath: "/usr/share/zoneinfo/Etc/GMT+8"))
        try #require(data.count == Int(before.st_size))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.write(contentsOf: data)
        try handle.close()
        // Set the times back until the change time has moved on from the first read's (the
        // kernel's file clock ticks every few milliseconds; a real rewrite comes much later).
        var after = stat()
        for _ in 0..<100_000 {
            var times = [before.st_atim, before.st_mtim]
            #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
            #expect(stat(path, &after) == 0)
            if after.st_ctim.tv_sec != before.st_ctim.tv_sec || after.st_ctim.tv_nsec != before.st_ctim.tv_nsec {
                break
            }
        }
        #expect(after.st_ino == before.st_ino && after.st_size == before.st_size)
        #expect(after.st_mtim.tv_sec == before.st_mtim.tv_sec && after.st_mtim.tv_nsec == before.st_mtim.tv_nsec)
        #expect(try load(path).localTimeType(at: 0).utcOffset == -8 * 3600)
    }

    /// Loading a configuration (start, reload) forgets the kept zones: they are read afresh.
    @Test func aClearedCacheReadsAgain() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/zone"
        try copy("Europe/Berlin", to: path)
        let first = try load(path)
        cache.clear()
        #expect(try load(path) !== first)
        #expect(counter.reads.withLock { $0 } == 2)
    }

    @Test func theSameFileUnderTwoNamesKeepsEachName() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/zone"
        try copy("Europe/Berlin", to: path)
        #expect(try load(path, name: "A").name == "A")
        #expect(try load(path, name: "B").name == "B")
        #expect(try load(path, name: "A").name == "A")
        #expect(counter.reads.withLock { $0 } == 2)
    }

    @Test func theLocalZoneIsNamedByItsLink() {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(ZoneRules.zoneName(linkTarget: "/usr/share/zoneinfo/Europe/Berlin") == "Europe/Berlin")
        #expect(ZoneRules.zoneName(linkTarget: "../usr/share/zoneinfo/UTC") == "UTC")
        #expect(ZoneRules.zoneName(linkTarget: "/etc/zones/berlin") == "localtime")
        #expect(ZoneRules.zoneName(linkTarget: "zoneinfo") == "localtime")
    }

    @Test func zoneNamesAreCheckedAsSystemdChecksThem() {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(ZoneRules.isValidName("Europe/Berlin"))
        #expect(ZoneRules.isValidName("Etc/GMT+5"))
        #expect(!ZoneRules.isValidName("Europe/Berlín"))
        #expect(!ZoneRules.isValidName("Europe//Berlin"))
        #expect(!ZoneRules.isValidName("/etc/localtime"))
        #expect(!ZoneRules.isValidName("Europe/Berlin/"))
        #expect(!ZoneRules.isValidName("../zoneinfo/UTC"))
    }
}
