import FoundationEssentials

/// One job read from a crontab line or a systemd timer, ready to be written as YAML.
public struct ImportedJob: Sendable, Equatable {
    /// How the job's command runs.
    public enum Command: Sendable, Equatable {
        /// A shell script (`command: '…'`, run through /bin/sh -c).
        case shell(String)
        /// An argv (`command: [...]`), no shell.
        case argv([String])
    }

    public var id: String
    public var title: String?
    public var notes: String?
    /// Where the job came from (`/etc/crontab:12`, `backup.timer`), written as a comment.
    public var source: String
    /// The line or file the job came from, for matching it with the original in tests.
    public var sourceLine: Int?
    /// Schedule expressions (calendar or cron, or `@reboot`), in the order written.
    public var schedules: [String] = []
    /// `every: DURATION` schedules (systemd's monotonic timers), in seconds.
    public var intervals: [String] = []
    public var command: Command
    public var user: String?
    public var group: String?
    /// Environment in effect, in the order assigned (a later assignment replaces an earlier).
    public var environment: [(String, String)] = []
    public var workingDirectory: String?
    public var timezone: String?
    public var persistent = false
    public var randomizedDelay: String?
    public var fixedRandomDelay = false
    public var timeout: String?
    /// Limit keys (`memory_max`, `nice`, …) with their values as JobControl reads them.
    public var resources: [(String, String)] = []
    /// A notification rule naming an email channel (cron's MAILTO).
    public var notifyChannel: String?
    /// What could not be carried over, or only approximately.
    public var reported: [ImportNote] = []

    public init(id: String, source: String, command: Command) {
        self.id = id
        self.source = source
        self.command = command
    }

    /// A name JobControl's `environment:` accepts: letters, digits and `_`, not starting with a digit.
    static func isEnvironmentName(_ name: String) -> Bool {
        guard let first = name.first, first == "_" || (first.isASCII && first.isLetter) else { return false }
        return name.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
    }

    public static func == (lhs: ImportedJob, rhs: ImportedJob) -> Bool {
        lhs.id == rhs.id && lhs.source == rhs.source && lhs.schedules == rhs.schedules && lhs.command == rhs.command
    }
}

/// A setting that was not carried over as it was, and why.
public struct ImportNote: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// Not carried over: the job behaves differently here.
        case notMapped = "not mapped"
        /// Carried over with a difference the reason explains.
        case approximated
        /// Not needed in JobControl (it does this by itself, or it has no meaning here).
        case notNeeded = "not needed"
        /// The line or file could not be read at all; nothing was imported from it.
        case invalid
    }

    public var kind: Kind
    /// `FILE:LINE` or `FILE`.
    public var location: String
    /// The setting as written (`WakeSystem=true`, a crontab line).
    public var setting: String
    public var reason: String

    public init(_ kind: Kind, location: String, setting: String, reason: String) {
        self.kind = kind
        self.location = location
        self.setting = setting
        self.reason = reason
    }

    public var description: String { "\(location): \(kind.rawValue): \(setting): \(reason)" }
}

/// What an import produced: jobs, email channels they notify, and notes about the rest.
public struct ImportResult: Sendable {
    public var jobs: [ImportedJob] = []
    /// Email channels to add to the main configuration (`notifications.channels`), by name.
    public var channels: [(name: String, addresses: [String])] = []
    /// Notes about the source as a whole (a line that is not a job, a default cron sets).
    public var notes: [ImportNote] = []
    /// Where it was read from.
    public var source: String

    public init(source: String) { self.source = source }

    /// Every note, the file's and the jobs'.
    public var allNotes: [ImportNote] { notes + jobs.flatMap(\.reported) }
}

/// Job ids as JobControl accepts them: letters, digits, `_`, `-`, `.`; unique within a result.
struct JobIDs {
    private var taken: Set<String> = []
    private var nextSuffix: [String: Int] = [:]

    mutating func make(from base: String) -> String {
        var id = ""
        for character in base.lowercased() {
            if character.isASCII && (character.isLetter || character.isNumber) || "_.".contains(character) {
                id.append(character)
            } else if !id.hasSuffix("-") {
                id.append("-")
            }
        }
        while id.hasPrefix("-") || id.hasPrefix(".") { id.removeFirst() }
        while id.hasSuffix("-") || id.hasSuffix(".") { id.removeLast() }
        if id.isEmpty { id = "job" }
        if id.count > 100 { id = String(id.prefix(100)) }
        var candidate = id
        // Where the search for a free suffix of this id left off: 20,000 lines of one program
        // took 30 s when each started again at 2.
        var number = nextSuffix[id, default: 2]
        while taken.contains(candidate) {
            candidate = "\(id)-\(number)"
            number += 1
        }
        nextSuffix[id] = number
        taken.insert(candidate)
        return candidate
    }
}
