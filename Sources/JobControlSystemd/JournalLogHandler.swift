import CSystemd
import Glibc
import Logging

/// Writes log records to the systemd journal with structured fields (`sd_journal_sendv(3)`):
/// `MESSAGE`, `PRIORITY`, `CODE_FILE`/`CODE_LINE`/`CODE_FUNC`, `SYSLOG_IDENTIFIER`, and each
/// metadata key as a field (`job.id` → `JOBCONTROL_JOB`, `build.id` → `JOBCONTROL_BUILD`, others
/// `JOBCONTROL_<KEY>`), so `journalctl JOBCONTROL_JOB=backup` finds a job's lines.
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    let label: String

    public init(label: String) {
        self.label = label
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = [
            "MESSAGE=\(event.message)", "PRIORITY=\(Self.priority(event.level))", "SYSLOG_IDENTIFIER=jobcontrold",
            "CODE_FILE=\(event.file)", "CODE_LINE=\(event.line)", "CODE_FUNC=\(event.function)",
        ]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { _, new in new }) {
            fields.append("\(Self.fieldName(key))=\(value)")
        }
        Self.send(fields)
    }

    /// Sends one entry made of `NAME=value` fields.
    public static func send(_ fields: [String]) {
        var buffers = fields.map { Array($0.utf8) }
        var vectors: [iovec] = []
        vectors.reserveCapacity(buffers.count)
        for index in buffers.indices {
            buffers[index].withUnsafeMutableBytes { bytes in
                vectors.append(iovec(iov_base: bytes.baseAddress, iov_len: bytes.count))
            }
        }
        // The iovecs point into `buffers`, which stays alive (and unmoved) until the call returns.
        withExtendedLifetime(buffers) {
            _ = sd_journal_sendv(vectors, Int32(vectors.count))
        }
    }

    /// syslog priorities: 2 critical … 7 debug.
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    static func fieldName(_ key: String) -> String {
        switch key {
        case "job.id": return "JOBCONTROL_JOB"
        case "build.id": return "JOBCONTROL_BUILD"
        default:
            let sanitized = key.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }
            return "JOBCONTROL_" + String(sanitized)
        }
    }

    /// Whether stderr is connected to the journal (`JOURNAL_STREAM` names its device and inode).
    public static func stderrIsJournal() -> Bool {
        guard let stream = getenv("JOURNAL_STREAM").map({ String(cString: $0) }) else { return false }
        let parts = stream.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var status = stat()
        guard fstat(2, &status) == 0 else { return false }
        return UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode
    }
}
