/// What a finished build took, as measured by its cgroup (or, without one, by the kernel's
/// accounting of its command and the children it waited for). A value the host could not
/// measure is nil.
public struct ResourceUsage: Sendable, Hashable {
    /// CPU time in user and kernel mode, in microseconds.
    public var cpuUserMicroseconds: Int64?
    public var cpuSystemMicroseconds: Int64?
    /// The most memory the build held at once, in bytes (page cache included under cgroups).
    public var memoryPeakBytes: Int64?
    /// The most processes and threads it had at once.
    public var tasksPeak: Int64?
    /// Bytes read from and written to block devices.
    public var ioReadBytes: Int64?
    public var ioWriteBytes: Int64?
    /// Processes the kernel's OOM killer stopped in the build.
    public var oomKills: Int64?
    /// `cgroup` or `rusage`: where the figures come from.
    public var source: String

    public init(source: String) {
        self.source = source
    }

    static var keys: [(String, WritableKeyPath<ResourceUsage, Int64?>)] {
        [
            ("cpu_user_usec", \.cpuUserMicroseconds), ("cpu_system_usec", \.cpuSystemMicroseconds),
            ("memory_peak_bytes", \.memoryPeakBytes), ("tasks_peak", \.tasksPeak), ("io_read_bytes", \.ioReadBytes),
            ("io_write_bytes", \.ioWriteBytes), ("oom_kills", \.oomKills),
        ]
    }

    /// `{"source": "cgroup", "cpu_user_usec": 1200, …}`: what storage keeps and the API sends.
    public var json: JSONValue {
        var object: [String: JSONValue] = ["source": .string(source)]
        for (key, path) in Self.keys { if let value = self[keyPath: path] { object[key] = .int(value) } }
        return .object(object)
    }

    public init?(json: JSONValue) {
        guard case .object(let object) = json, let source = object["source"]?.stringValue else { return nil }
        self.source = source
        for (key, path) in Self.keys { self[keyPath: path] = object[key]?.intValue }
    }

    /// The cgroup's figures, with what it did not measure taken from the command's rusage
    /// (`source` then names both): on a hybrid host without a memory limit, the build's
    /// cgroup has no memory controller, and its peak is the largest process's.
    public static func combined(_ cgroup: ResourceUsage?, _ process: ResourceUsage?) -> ResourceUsage? {
        guard var result = cgroup else { return process }
        guard let process else { return result }
        var borrowed = false
        for (_, path) in keys where result[keyPath: path] == nil && process[keyPath: path] != nil {
            result[keyPath: path] = process[keyPath: path]
            borrowed = true
        }
        if borrowed { result.source = "\(result.source)+\(process.source)" }
        return result
    }

    /// `cpu 1.2 s user + 0.1 s system · peak memory 12.3 MiB · peak tasks 3 · io 1.0 MiB read, 0 B written`
    public var summary: String {
        var parts: [String] = []
        if let user = cpuUserMicroseconds, let system = cpuSystemMicroseconds {
            parts.append(
                "cpu \((Double(user) / 1e6).secondsText) user + \((Double(system) / 1e6).secondsText) system")
        }
        if let memoryPeakBytes { parts.append("peak memory \(ByteSize.human(memoryPeakBytes))") }
        if let tasksPeak { parts.append("peak tasks \(tasksPeak)") }
        if let ioReadBytes, let ioWriteBytes {
            parts.append("io \(ByteSize.human(ioReadBytes)) read, \(ByteSize.human(ioWriteBytes)) written")
        }
        if let oomKills, oomKills > 0 { parts.append("\(oomKills) killed by the OOM killer") }
        return parts.joined(separator: " · ")
    }
}

extension Double {
    /// Seconds with three decimals below 10 s, one above: `0.012 s`, `12.3 s`.
    fileprivate var secondsText: String {
        if self >= 10 { return oneDecimalText + " s" }
        let millis = Int((self * 1000).rounded())
        let fraction = String(millis % 1000)
        return "\(millis / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction) s"
    }
}
