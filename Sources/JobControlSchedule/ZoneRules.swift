import FoundationEssentials
import Glibc
import JobControlModel

/// One kind of local time of a zone: its offset from UTC, whether it is daylight saving time,
/// and its abbreviation.
public struct LocalTimeType: Sendable, Equatable {
    /// Seconds east of UTC.
    public var utcOffset: Int
    public var isDST: Bool
    public var abbreviation: String
}

/// The rules of one time zone, read from the system's tz database (`/usr/share/zoneinfo`), so
/// local times agree with glibc and therefore with `systemd-analyze calendar` on the same machine.
///
/// Immutable after loading; shared freely between threads.
public final class ZoneRules: Sendable, CustomStringConvertible {
    /// The name it was loaded by (`Europe/Berlin`, `UTC`), as a user would write it.
    public let name: String
    let transitions: [Int64]
    let transitionTypes: [Int]
    let types: [LocalTimeType]
    /// Rules for instants after the last transition (the TZif footer, or a `TZ` string).
    let footer: PosixZoneRule?
    /// The names `tzname[0]` and `tzname[1]` would have for this zone.
    public let standardAbbreviation: String
    public let daylightAbbreviation: String

    init(name: String, transitions: [Int64], transitionTypes: [Int], types: [LocalTimeType], footer: PosixZoneRule?) {
        self.name = name
        self.transitions = transitions
        self.transitionTypes = transitionTypes
        let types = types.isEmpty ? [LocalTimeType(utcOffset: 0, isDST: false, abbreviation: "UTC")] : types
        self.types = types
        self.footer = footer
        // glibc's tzname: the most recent standard and daylight types of the transition table.
        let recent = transitionTypes.reversed().map { types[$0] }
        let standard =
            recent.first { !$0.isDST }?.abbreviation ?? footer?.standard.abbreviation ?? types[0].abbreviation
        standardAbbreviation = standard
        daylightAbbreviation = recent.first { $0.isDST }?.abbreviation ?? footer?.daylight?.abbreviation ?? standard
    }

    /// Coordinated Universal Time.
    public static let utc = ZoneRules(
        name: "UTC", transitions: [], transitionTypes: [],
        types: [LocalTimeType(utcOffset: 0, isDST: false, abbreviation: "UTC")], footer: nil)

    /// The local time type in effect at `instant` (seconds since the epoch), chosen as glibc's
    /// `localtime` chooses it: the transition table, then the footer rule after its end, and the
    /// first standard-time type before its beginning.
    public func localTimeType(at instant: Int64) -> LocalTimeType {
        if let last = transitions.last, instant >= last, let footer {
            return footer.localTimeType(at: instant)
        }
        guard let first = transitions.first, instant >= first else {
            return types.first { !$0.isDST } ?? types[0]
        }
        var low = 0
        var high = transitions.count  // the answer is the last index with transitions[i] <= instant
        while high - low > 1 {
            let middle = (low + high) / 2
            if transitions[middle] <= instant { low = middle } else { high = middle }
        }
        return types[transitionTypes[low]]
    }

    /// Whether local time is UTC by another name (`Etc/UTC`, `GMT`, `Africa/Abidjan`): no
    /// offset and no summer time now, as glibc's `timezone == 0 && daylight == 0`, where
    /// `systemd-analyze calendar` prints no "(in UTC)" lines.
    public var isUTCLike: Bool {
        if let footer { return footer.standard.utcOffset == 0 && footer.daylight == nil }
        let current = transitionTypes.last.map { types[$0] } ?? types.first { !$0.isDST } ?? types[0]
        return current.utcOffset == 0 && !types.contains { $0.isDST }
    }

    public var description: String { name }
}

/// Finding zones by name, as `TZ=` and `timezone:` name them.
extension ZoneRules {
    /// Where the tz database lives (`TZDIR` overrides, as for glibc).
    static var zoneDirectory: String {
        // getenv, not ProcessInfo's environment: that copies the whole environment into a
        // dictionary on every call, which was a third of a 10,000-job configuration's load.
        getenv("TZDIR").map { String(cString: $0) } ?? "/usr/share/zoneinfo"
    }

    /// Whether `name` looks like a zone name and names a TZif file, as systemd's
    /// `timezone_is_valid` decides it.
    public static func isValidName(_ name: String) -> Bool {
        named(name) != nil
    }

    /// The zone `name`, if it is a valid zone name (systemd's `timezone_is_valid`: letters,
    /// digits, `-_+/`, no empty path component) naming a TZif file. Read from the file once
    /// while it stays unchanged (``ZoneCache``).
    public static func named(_ name: String) -> ZoneRules? {
        if name == "UTC" { return .utc }
        guard !name.isEmpty, !name.hasPrefix("/"), !name.hasSuffix("/"), !name.contains("//"),
            name.utf8.allSatisfy(isNameByte)
        else { return nil }
        return try? load(named: name)
    }

    /// Loads the zone `name` (`Europe/Berlin`, `UTC`) from the tz database.
    public static func load(named name: String) throws(ZoneError) -> ZoneRules {
        if name == "UTC" { return .utc }
        guard !name.isEmpty, !name.hasPrefix("/"), !name.contains("..") else { throw .unknownZone(name) }
        return try load(file: zoneDirectory + "/" + name, name: name)
    }

    static func load(file path: String, name: String) throws(ZoneError) -> ZoneRules {
        try ZoneCache.shared.rules(path: path, name: name) { path throws(ZoneError) in
            guard let data = FileManager.default.contents(atPath: path) else { throw .unknownZone(name) }
            return try TZifReader.parse([UInt8](data), name: name)
        }
    }

    /// Forgets the zone files read so far (``ZoneCache``): the next lookups read them again.
    /// Loading a configuration does this first, so a reload picks up changed zone files whatever
    /// their file times say.
    public static func forgetReadFiles() {
        ZoneCache.shared.clear()
    }

    /// The zone local time is in for this process (``local(environment:)`` with its `TZ`).
    public static func local() -> ZoneRules {
        local(environment: getenv("TZ").map { ["TZ": String(cString: $0)] } ?? [:])
    }

    /// The zone local time is in for this process: `TZ` (a zone name, a file, or a POSIX rule
    /// such as `EST5EDT`), else `/etc/localtime`, else UTC — the order glibc uses.
    public static func local(environment: [String: String]) -> ZoneRules {
        guard var value = environment["TZ"] else {
            return (try? load(file: "/etc/localtime", name: localName())) ?? .utc
        }
        if value.hasPrefix(":") { value.removeFirst() }
        if value.isEmpty { return .utc }
        if value.hasPrefix("/") { return (try? load(file: value, name: value)) ?? .utc }
        if let zone = try? load(named: value) { return zone }
        if let rule = PosixZoneRule(value) {
            // glibc applies a rule string at every instant (a TZif file without transitions
            // uses its first type instead): one transition at the beginning of time hands every
            // instant to the rule, summer time included.
            return ZoneRules(
                name: value, transitions: [Int64.min], transitionTypes: [0], types: [rule.standard], footer: rule)
        }
        return .utc
    }

    /// The name `/etc/localtime` points at (`Europe/Berlin`), or `localtime`.
    static func localName() -> String {
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/etc/localtime") else {
            return "localtime"
        }
        return zoneName(linkTarget: target)
    }

    /// What follows `zoneinfo/` in a link to a zone file, or `localtime`.
    static func zoneName(linkTarget target: String) -> String {
        let bytes = Array(target.utf8)
        let marker = Array("zoneinfo/".utf8)
        guard bytes.count > marker.count,
            let start = (0...(bytes.count - marker.count)).first(where: {
                bytes[$0..<$0 + marker.count].elementsEqual(marker)
            })
        else { return "localtime" }
        return String(decoding: bytes[(start + marker.count)...], as: UTF8.self)
    }

    /// The bytes of a zone name as systemd's `timezone_is_valid` allows them: ASCII letters,
    /// digits and `-_+/`.
    private static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "+"),
            UInt8(ascii: "/"):
            true
        default: false
        }
    }
}

/// Why a zone could not be used.
public enum ZoneError: Error, Equatable, CustomStringConvertible {
    case unknownZone(String)
    case malformed(String, reason: String)

    public var description: String {
        switch self {
        case .unknownZone(let name):
            "unknown time zone '\(name)' (expected a name from the tz database, such as Europe/Berlin or UTC; see timedatectl list-timezones)"
        case .malformed(let name, let reason):
            "time zone file for '\(name)' is damaged: \(reason) (reinstall the tzdata package)"
        }
    }
}

extension ZoneRules: Hashable {
    /// Zones are equal when they were loaded by the same name.
    public static func == (a: ZoneRules, b: ZoneRules) -> Bool { a === b || a.name == b.name }
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }
}
