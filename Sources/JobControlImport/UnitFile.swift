import FoundationEssentials
import Glibc

/// A systemd unit file with its drop-ins applied, as systemd reads it: sections, `Key=Value`
/// (whitespace around `=` ignored), `#` and `;` comments, lines continued with a trailing
/// backslash, and an empty assignment resetting a list.
public struct UnitFile: Sendable {
    /// One assignment as written, with where.
    public struct Setting: Sendable {
        public var section: String
        public var key: String
        public var value: String
        /// `FILE:LINE`.
        public var location: String
    }

    /// The unit's name (`backup.timer`).
    public var name: String
    /// Every file read, the unit first, then its drop-ins in the order applied.
    public var files: [String] = []
    /// Every assignment in order (drop-ins after the unit). Lists are read with ``values(_:_:)``.
    public var settings: [Setting] = []

    /// Reads `path` and the drop-ins of its name in `dropInDirectories` (each `DIR/NAME.d/*.conf`,
    /// merged by file name, the first directory's file winning; applied in file-name order).
    public static func read(path: String, dropInDirectories: [String]) throws(ImportError) -> UnitFile {
        let name = String(path.split(separator: "/").last ?? Substring(path))
        var unit = UnitFile(name: name)
        try unit.parse(file: path)
        var dropIns: [String: String] = [:]
        for directory in dropInDirectories {
            let folder = directory + "/" + name + ".d"
            for entry in listDirectory(folder) where entry.hasSuffix(".conf") && dropIns[entry] == nil {
                dropIns[entry] = folder + "/" + entry
            }
        }
        for entry in dropIns.keys.sorted() { try unit.parse(file: dropIns[entry]!) }
        return unit
    }

    public init(name: String) { self.name = name }

    mutating func parse(file path: String) throws(ImportError) {
        let text = try readFile(path)
        files.append(path)
        parse(text: text, file: path)
    }

    mutating func parse(text: String, file: String) {
        var section = ""
        var pending: (text: String, line: Int)?
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        for (index, raw) in lines.enumerated() {
            var line = raw.trimmed
            if line.hasSuffix("\r") { line.removeLast() }
            if pending != nil, line.hasPrefix("#") || line.hasPrefix(";") { continue }  // inside a continuation
            if let (previous, start) = pending {
                var text = previous
                if line.hasSuffix("\\") {
                    text += " " + line.dropLast()
                    pending = (text, start)
                    continue
                }
                text += " " + line
                pending = nil
                line = text
                record(line, section: section, location: "\(file):\(start)")
                continue
            }
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast())
                continue
            }
            if line.hasSuffix("\\") {
                pending = (String(line.dropLast()), index + 1)
                continue
            }
            record(line, section: section, location: "\(file):\(index + 1)")
        }
        if let (text, start) = pending { record(text, section: section, location: "\(file):\(start)") }
    }

    private mutating func record(_ line: String, section: String, location: String) {
        guard let equals = line.firstIndex(of: "=") else {
            settings.append(Setting(section: section, key: line, value: "", location: location))
            return
        }
        let key = line[..<equals].trimmed
        let value = line[line.index(after: equals)...].trimmed
        settings.append(Setting(section: section, key: key, value: value, location: location))
    }

    /// A list setting's values: every assignment in order, an empty one dropping those before.
    public func values(_ section: String, _ key: String) -> [Setting] {
        var result: [Setting] = []
        for setting in settings where setting.section == section && setting.key == key {
            if setting.value.isEmpty { result.removeAll() } else { result.append(setting) }
        }
        return result
    }

    /// A single-valued setting: the last assignment (nil when none, or the last is empty).
    public func value(_ section: String, _ key: String) -> Setting? {
        guard let last = settings.last(where: { $0.section == section && $0.key == key }), !last.value.isEmpty
        else { return nil }
        return last
    }

    /// systemd's booleans.
    public static func bool(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "1", "yes", "y", "true", "t", "on": true
        case "0", "no", "n", "false", "f", "off": false
        default: nil
        }
    }
}

/// A file that could not be read, or a unit that cannot be imported at all.
public struct ImportError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public enum ImportFiles {
    public static func read(_ path: String) throws(ImportError) -> String { try readFile(path) }

    /// Standard input, whole, as text (`crontab -l | jobctl import cron -`).
    public static func readStandardInput() throws(ImportError) -> String {
        guard let file = fdopen(dup(0), "r") else { throw ImportError("cannot read standard input") }
        defer { fclose(file) }
        return try text(of: try readAll(file, name: "standard input"), source: "standard input")
    }

    /// `bytes` as text; bytes that are not UTF-8 are an error naming the line, not silently
    /// replaced (a command with a Latin-1 character would otherwise change).
    static func text(of bytes: [UInt8], source: String) throws(ImportError) -> String {
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        // The first bad byte's line: decode line by line until one fails.
        var line = 1
        var start = 0
        for (index, byte) in bytes.enumerated() where byte == 10 || index == bytes.count - 1 {
            let end = byte == 10 ? index : index + 1
            if String(validating: bytes[start..<end], as: UTF8.self) == nil { break }
            line += 1
            start = index + 1
        }
        throw ImportError(
            "\(source):\(line): not UTF-8 text (convert the file first, e.g. iconv -f latin1 -t utf-8)")
    }
}

private func readAll(_ file: UnsafeMutablePointer<FILE>, name: String) throws(ImportError) -> [UInt8] {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = fread(&buffer, 1, buffer.count, file)
        if count > 0 { bytes += buffer[0..<count] }
        if count < buffer.count {
            if ferror(file) != 0 { throw ImportError("cannot read \(name): \(String(cString: strerror(errno)))") }
            break
        }
    }
    return bytes
}

func readFile(_ path: String) throws(ImportError) -> String {
    var info = stat()
    if stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR {
        throw ImportError("\(path) is a directory; give a file (each file of /etc/cron.d on its own)")
    }
    guard let file = fopen(path, "r") else {
        throw ImportError("cannot read \(path): \(String(cString: strerror(errno)))")
    }
    defer { fclose(file) }
    return try ImportFiles.text(of: try readAll(file, name: path), source: path)
}

/// The names in a directory, sorted; empty when it does not exist.
func listDirectory(_ path: String) -> [String] {
    guard let directory = opendir(path) else { return [] }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
}

func isRegularFile(_ path: String) -> Bool {
    var status = stat()
    return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG
}

func isDirectory(_ path: String) -> Bool {
    var status = stat()
    return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
}
