/// Reads TZif files (RFC 8536), the binary format of the tz database: the transition times, the
/// local time types, and the POSIX-style footer that governs instants after the last transition.
enum TZifReader {
    static func parse(_ bytes: [UInt8], name: String) throws(ZoneError) -> ZoneRules {
        var reader = ByteReader(bytes: bytes, name: name)
        let first = try reader.header()
        guard first.version >= 2 else {
            // Version 1: 32-bit data only, no footer.
            return try reader.body(first, timeSize: 4, name: name, footer: nil)
        }
        // Version 2+: skip the 32-bit block, read the 64-bit one and the footer after it.
        try reader.skip(first.blockSize(timeSize: 4))
        let second = try reader.header()
        let body = try reader.bodyParts(second, timeSize: 8)
        let footer = try reader.footer()
        return ZoneRules(
            name: name, transitions: body.transitions, transitionTypes: body.transitionTypes,
            types: body.types, footer: footer.flatMap { PosixZoneRule($0) })
    }
}

private struct TZifHeader {
    var version: Int
    var isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt: Int

    func blockSize(timeSize: Int) -> Int {
        timecnt * timeSize + timecnt + typecnt * 6 + charcnt + leapcnt * (timeSize + 4) + isstdcnt + isutcnt
    }
}

private struct ByteReader {
    let bytes: [UInt8]
    let name: String
    var position = 0

    init(bytes: [UInt8], name: String) {
        self.bytes = bytes
        self.name = name
    }

    mutating func take(_ count: Int) throws(ZoneError) -> ArraySlice<UInt8> {
        guard count >= 0, position + count <= bytes.count else { throw .malformed(name, reason: "truncated") }
        defer { position += count }
        return bytes[position..<position + count]
    }

    mutating func skip(_ count: Int) throws(ZoneError) { _ = try take(count) }

    mutating func integer(_ size: Int) throws(ZoneError) -> Int64 {
        let slice = try take(size)
        var value: Int64 = 0
        for byte in slice { value = value << 8 | Int64(byte) }
        // Sign-extend 32-bit values.
        if size == 4, value & 0x8000_0000 != 0 { value -= 0x1_0000_0000 }
        return value
    }

    mutating func header() throws(ZoneError) -> TZifHeader {
        guard Array(try take(4)) == Array("TZif".utf8) else { throw .malformed(name, reason: "not a TZif file") }
        let versionByte = try take(1).first!
        try skip(15)
        var counts: [Int] = []
        for _ in 0..<6 { counts.append(Int(try integer(4))) }
        guard counts.allSatisfy({ $0 >= 0 }), counts[4] > 0 else { throw .malformed(name, reason: "bad header counts") }
        return TZifHeader(
            version: versionByte == 0 ? 1 : Int(versionByte) - 0x30,
            isutcnt: counts[0], isstdcnt: counts[1], leapcnt: counts[2],
            timecnt: counts[3], typecnt: counts[4], charcnt: counts[5])
    }

    mutating func bodyParts(_ header: TZifHeader, timeSize: Int)
        throws(ZoneError) -> (transitions: [Int64], transitionTypes: [Int], types: [LocalTimeType])
    {
        var transitions: [Int64] = []
        for _ in 0..<header.timecnt { transitions.append(try integer(timeSize)) }
        var transitionTypes: [Int] = []
        for _ in 0..<header.timecnt {
            let type = Int(try take(1).first!)
            guard type < header.typecnt else { throw .malformed(name, reason: "transition type out of range") }
            transitionTypes.append(type)
        }
        var raw: [(offset: Int, isDST: Bool, index: Int)] = []
        for _ in 0..<header.typecnt {
            let offset = Int(try integer(4))
            let isDST = try take(1).first! != 0
            let index = Int(try take(1).first!)
            raw.append((offset, isDST, index))
        }
        let characters = Array(try take(header.charcnt))
        let types = raw.map { entry in
            let start = min(entry.index, characters.count)
            let end = characters[start...].firstIndex(of: 0) ?? characters.count
            return LocalTimeType(
                utcOffset: entry.offset, isDST: entry.isDST,
                abbreviation: String(decoding: characters[start..<end], as: UTF8.self))
        }
        try skip(header.leapcnt * (timeSize + 4) + header.isstdcnt + header.isutcnt)
        return (transitions, transitionTypes, types)
    }

    mutating func body(_ header: TZifHeader, timeSize: Int, name: String, footer: PosixZoneRule?)
        throws(ZoneError) -> ZoneRules
    {
        let parts = try bodyParts(header, timeSize: timeSize)
        return ZoneRules(
            name: name, transitions: parts.transitions, transitionTypes: parts.transitionTypes,
            types: parts.types, footer: footer)
    }

    /// The footer: a newline, a POSIX TZ string (possibly empty), a newline.
    mutating func footer() throws(ZoneError) -> String? {
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\n") else { return nil }
        let start = position + 1
        guard let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")), end > start else { return nil }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}
