import FoundationEssentials
import JobControlSchedule

/// Reads a crontab as cron (Vixie cron, cronie) does and turns each job line into a job.
///
/// - The user format (`crontab -e`: five time fields, then the command) or the system format
///   (/etc/crontab, /etc/cron.d: a user column before the command).
/// - Environment assignments (`NAME=value`, `NAME = "value"`) apply to the lines after them.
///   `SHELL` decides the shell the command runs in, `MAILTO` becomes an email notification,
///   `CRON_TZ` (cronie) the job's `timezone`, `RANDOM_DELAY` (cronie, minutes) its
///   `randomized_delay`; the others become the job's environment.
/// - In the command, `\%` is `%`; the first other `%` ends the command, and what follows is its
///   standard input, each further `%` a newline.
/// - cronie's `-` before the time fields (no syslog line per run) is accepted where cronie
///   accepts it (root's and system crontabs).
/// - A line that is neither is reported with the reason, and nothing is imported from it; so is
///   a last line without a newline, which cron never runs.
public struct CrontabImporter {
    public enum Format: Sendable {
        /// A user's crontab; its jobs run as `user` (nil: as the daemon's user).
        case user(String?)
        /// /etc/crontab or /etc/cron.d: the sixth field is the user.
        case system
    }

    public var format: Format
    /// The path shown in comments and notes.
    public var path: String
    /// Put before every job id (`alice-`), to keep ids of several crontabs apart.
    public var idPrefix: String

    /// The user database the crontab's users' home directories are read from.
    public var passwdFile = "/etc/passwd"

    public init(path: String, format: Format, idPrefix: String = "") {
        self.path = path
        self.format = format
        self.idPrefix = idPrefix
    }

    struct Unknown: Error {
        var text: String
    }

    /// Where cron would run a command: `HOME=` of the crontab, else `user`'s home directory (read
    /// once per user into `known`), else why it is not known here.
    func workingDirectory(home: String?, user: String?, known: inout [String: String?]) -> Result<String, Unknown> {
        if let home { return .success(home) }
        guard let user else {
            return .failure(
                Unknown(
                    text:
                        "cron runs the command in its user's home directory, unknown for this file (pass --user NAME, or set working_directory)"
                ))
        }
        if known[user] == nil { known[user] = .some(homeDirectory(of: user)) }
        guard let directory = known[user] ?? nil else {
            return .failure(
                Unknown(
                    text:
                        "cron runs the command in the home directory of \(user), who is not in \(passwdFile) here; set working_directory"
                ))
        }
        return .success(directory)
    }

    /// `user`'s home directory in `passwdFile` (`name:x:uid:gid:gecos:home:shell`), or nil.
    func homeDirectory(of user: String) -> String? {
        guard let text = try? ImportFiles.read(passwdFile) else { return nil }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            if fields.count >= 7, fields[0] == user, !fields[5].isEmpty { return String(fields[5]) }
        }
        return nil
    }

    /// The format a path suggests: /etc/crontab and /etc/cron.d/* are system crontabs; a file in
    /// cron's spool directory is the crontab of the user it is named after.
    public static func format(forPath path: String) -> Format {
        if path == "/etc/crontab" || path.hasPrefix("/etc/cron.d/") { return .system }
        for spool in ["/var/spool/cron/crontabs/", "/var/spool/cron/"] where path.hasPrefix(spool) {
            let name = String(path.dropFirst(spool.count))
            if !name.isEmpty && !name.contains("/") { return .user(name) }
        }
        return .user(nil)
    }

    static let shorthands: Set<String> = [
        "@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly",
    ]

    public func run(_ text: String) -> ImportResult {
        var result = ImportResult(source: path)
        var environment: [(String, String)] = []
        var shell = "/bin/sh"
        var mailto: String?
        var home: String?
        var homes: [String: String?] = [:]
        var timezone: String?
        var randomDelay: String?
        var ids = JobIDs()
        var previousComment: String?
        var channels: [String: [String]] = [:]
        var channelOrder: [String] = []
        var withoutMailto = 0
        // Split at "\n" and "\r\n" (one Character in Swift, so splitting at "\n" alone misses it).
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        for (index, raw) in lines.enumerated() {
            let number = index + 1
            let location = "\(path):\(number)"
            let line = raw.hasSuffix("\r") ? String(raw.dropLast()) : String(raw)
            let trimmed = line.trimmed
            if trimmed.isEmpty {
                previousComment = nil
                continue
            }
            if trimmed.hasPrefix("#") {
                let comment = trimmed.dropFirst().trimmed
                previousComment = comment.isEmpty ? nil : comment
                continue
            }
            defer { previousComment = nil }
            if let (name, value) = Self.assignment(trimmed) {
                switch name {
                case "SHELL": shell = value
                case "MAILTO": mailto = value
                case "HOME": home = value.isEmpty ? nil : value
                case "CRON_TZ":
                    if !value.isEmpty, (try? ZoneRules.load(named: value)) == nil {
                        // The jobs would not load with it; they keep the daemon's local time.
                        result.notes.append(
                            ImportNote(
                                .notMapped, location: location, setting: trimmed,
                                reason: "unknown time zone '\(value)'; the jobs below run in the daemon's local time"))
                        timezone = nil
                    } else {
                        timezone = value.isEmpty ? nil : value
                    }
                case "RANDOM_DELAY": randomDelay = value
                default: break
                }
                if !["SHELL", "MAILTO", "CRON_TZ", "RANDOM_DELAY"].contains(name) {
                    guard ImportedJob.isEnvironmentName(name) else {
                        result.notes.append(
                            ImportNote(
                                .notMapped, location: location, setting: trimmed,
                                reason: "an environment variable's name must be letters, digits and '_'"))
                        continue
                    }
                    environment.removeAll { $0.0 == name }
                    environment.append((name, value))
                }
                continue
            }
            // cronie's '-' before the time fields: no syslog line for each run (root's and
            // system crontabs only; cronie refuses the line in anyone else's).
            var entry = trimmed
            var quiet = false
            if entry.hasPrefix("-") {
                if case .user(let owner?) = format, owner != "root" {
                    result.notes.append(
                        ImportNote(
                            .invalid, location: location, setting: trimmed,
                            reason: "'-' (no syslog line) is for root's and system crontabs; cron refuses the line"))
                    continue
                }
                entry = String(entry.dropFirst())
                quiet = true
                // cronie reads the time fields right after the '-': a blank there is a bad line.
                if entry.first == " " || entry.first == "\t" {
                    result.notes.append(
                        ImportNote(
                            .invalid, location: location, setting: trimmed,
                            reason: "'-' must be followed by the time fields at once; cron refuses the line"))
                    continue
                }
            }
            let parsed: (schedule: String, user: String?, command: String)
            switch parse(entry) {
            case .failure(let reason):
                result.notes.append(ImportNote(.invalid, location: location, setting: trimmed, reason: reason))
                continue
            case .success(let value): parsed = value
            }
            // cron reads a job line up to its newline: a last line without one never runs there
            // ("a file without a \n before the EOF is rude"), so it does not become a job here.
            if index == lines.count - 1 {
                result.notes.append(
                    ImportNote(
                        .invalid, location: location, setting: trimmed,
                        reason:
                            "the file's last line has no newline, so cron never runs it; end the file with a newline to import it"
                    ))
                continue
            }
            let (command, stdin) = Self.splitPercent(parsed.command)
            var script = command
            if let stdin {
                let quoted = "'" + stdin.replacing("'", with: "'\\''") + "'"
                script = "printf '%s' \(quoted) | {\n\(command)\n}"
            }
            var job = ImportedJob(
                id: ids.make(from: idPrefix + Self.programName(command)), source: location,
                command: shell == "/bin/sh" ? .shell(script) : .argv([shell, "-c", script]))
            job.sourceLine = number
            job.title = previousComment
            job.schedules = [parsed.schedule]
            job.user = parsed.user
            job.environment = environment
            // cron runs the command in HOME (the crontab's, else the user's home directory).
            switch workingDirectory(home: home, user: parsed.user, known: &homes) {
            case .success(let directory): job.workingDirectory = directory
            case .failure(let reason):
                job.reported.append(
                    ImportNote(.notMapped, location: location, setting: "the working directory", reason: reason.text))
            }
            job.timezone = timezone
            if quiet {
                job.reported.append(
                    ImportNote(
                        .notNeeded, location: location, setting: "'-' before the time fields",
                        reason: "cronie's switch for its syslog line per run; builds are recorded here as any other"))
            }
            if let stdin {
                job.reported.append(
                    ImportNote(
                        .approximated, location: location, setting: "%",
                        reason:
                            "cron gives the text after the first % as standard input; the command gets it from printf (\(stdin.utf8.count) bytes)"
                    ))
            }
            if let randomDelay, let minutes = Int(randomDelay), minutes > 0, parsed.schedule != "@reboot" {
                job.randomizedDelay = "\(minutes)m"
            } else if let randomDelay, Int(randomDelay) == nil {
                job.reported.append(
                    ImportNote(
                        .notMapped, location: location, setting: "RANDOM_DELAY=\(randomDelay)",
                        reason: "not a number of minutes"))
            }
            if timezone != nil && parsed.schedule == "@reboot" { job.timezone = nil }
            if let mailto, !mailto.isEmpty {
                let addresses = mailto.split(separator: ",").map { $0.trimmed }
                    .filter { !$0.isEmpty }
                if addresses.allSatisfy({ $0.contains("@") }) {
                    // One channel per set of addresses: two MAILTOs whose names read alike
                    // (ops@alpha, ops@beta) must not mail each other's failures.
                    var name = Self.channelName(addresses)
                    if let taken = channels[name], taken != addresses {
                        name =
                            channels.first { $0.value == addresses }?.key
                            ?? (2...).lazy.map { "\(name)-\($0)" }.first { channels[$0] == nil }!
                    }
                    if channels[name] == nil {
                        channels[name] = addresses
                        channelOrder.append(name)
                    }
                    job.notifyChannel = name
                    job.reported.append(
                        ImportNote(
                            .approximated, location: location, setting: "MAILTO=\(mailto)",
                            reason:
                                "cron mails any output; the job notifies channel \(name) when a build fails (its log keeps the output)"
                        ))
                } else {
                    job.reported.append(
                        ImportNote(
                            .notMapped, location: location, setting: "MAILTO=\(mailto)",
                            reason: "local mailboxes (no @) cannot be an email channel; add a channel by hand"))
                }
            } else if mailto == nil {
                withoutMailto += 1
            }
            result.jobs.append(job)
        }
        result.channels = channelOrder.map { ($0, channels[$0]!) }
        if !result.jobs.isEmpty {
            result.notes.append(
                ImportNote(
                    .approximated, location: path, setting: "cron's environment",
                    reason:
                        "cron runs commands with PATH=/usr/bin:/bin, HOME, LOGNAME and SHELL of the user; the jobs get the daemon's environment with the assignments above (set PATH in a job if it relies on cron's)"
                ))
        }
        if withoutMailto > 0 {
            result.notes.append(
                ImportNote(
                    .notMapped, location: path, setting: "MAILTO (not set before \(withoutMailto) of the jobs)",
                    reason:
                        "cron mails their output to the user they run as; here each build's log keeps it, and no notification is sent"
                ))
        }
        if case .user(nil) = format, !result.jobs.isEmpty {
            result.notes.append(
                ImportNote(
                    .notMapped, location: path, setting: "the crontab's owner",
                    reason: "unknown for this file: the jobs run as the daemon's user; pass --user NAME"))
        }
        return result
    }

    /// `NAME=value` or `NAME = "value"`, as cronie's load_env reads it; nil for a job line.
    static func assignment(_ line: String) -> (String, String)? {
        guard let equals = line.firstIndex(of: "=") else { return nil }
        let name = line[..<equals].trimmed
        guard !name.isEmpty, !name.contains(where: { $0 == " " || $0 == "\t" }) else { return nil }
        // A job line's first field is a time field or @word: never a name followed by '='.
        guard let first = name.first, first.isLetter || first == "_" else { return nil }
        var value = line[line.index(after: equals)...].trimmed
        if let quote = value.first, quote == "\"" || quote == "'" {
            guard value.count >= 2, value.last == quote, !value.dropFirst().dropLast().contains(quote) else {
                return nil  // a quote not closed at the end: cron reads a job line
            }
            value = String(value.dropFirst().dropLast())
        }
        return (name, value)
    }

    private enum Parsed {
        case success((schedule: String, user: String?, command: String))
        case failure(String)
    }

    private func parse(_ line: String) -> Parsed {
        var rest = Substring(line)
        func field() -> String? {
            rest = rest.drop { $0 == " " || $0 == "\t" }
            guard !rest.isEmpty else { return nil }
            let end = rest.firstIndex { $0 == " " || $0 == "\t" } ?? rest.endIndex
            defer { rest = rest[end...] }
            return String(rest[..<end])
        }
        var schedule: String
        guard let first = field() else { return .failure("empty line") }
        if first.hasPrefix("@") {
            guard Self.shorthands.contains(first) else {
                return .failure(
                    "'\(first)' is not one of cron's @-words (\(Self.shorthands.sorted().joined(separator: ", ")))")
            }
            schedule = first
        } else {
            var fields = [first]
            for _ in 0..<4 {
                guard let next = field() else {
                    return .failure("a cron line needs five time fields and a command")
                }
                fields.append(next)
            }
            schedule = fields.joined(separator: " ")
            if let problem = CronSyntax.check(fields) { return .failure(problem) }
        }
        var user: String?
        if case .system = format {
            guard let name = field() else { return .failure("a system crontab line needs a user after the time") }
            user = name
        } else if case .user(let owner) = format {
            user = owner
        }
        let command = rest.drop { $0 == " " || $0 == "\t" }
        guard !command.isEmpty else { return .failure("no command after the time fields") }
        // cronie refuses these ("bad command", "bad username"): most often a sixth time field
        // (seconds, from another cron's syntax), which the shell would glob-expand and run.
        if command.hasPrefix("*") {
            return .failure("the command starts with '*': a sixth time field? cron refuses the line")
        }
        if let user, user.hasPrefix("*") {
            return .failure("the user is '\(user)': a sixth time field? cron refuses the line")
        }
        return .success((schedule, user, String(command)))
    }

    /// The command (with `\%` as `%`) and its standard input: what follows the first other `%`,
    /// each further `%` a newline and `\%` a `%`, ending with a newline (cron adds one when it is
    /// missing), as cronie's do_command writes it.
    static func splitPercent(_ command: String) -> (String, String?) {
        var out = ""
        var iterator = command.makeIterator()
        while let character = iterator.next() {
            if character == "\\" {
                if let next = iterator.next() {
                    if next == "%" {
                        out.append("%")
                    } else {
                        out.append(character)
                        out.append(next)
                    }
                } else {
                    out.append(character)
                }
            } else if character == "%" {
                var stdin = ""
                var escaped = false
                while let next = iterator.next() {
                    if escaped {
                        if next != "%" { stdin.append("\\") }
                        stdin.append(next)
                        escaped = false
                    } else if next == "\\" {
                        escaped = true
                    } else {
                        stdin.append(next == "%" ? "\n" : next)
                    }
                }
                if escaped { stdin.append("\\") }
                if !stdin.hasSuffix("\n") { stdin.append("\n") }
                return (out, stdin)
            } else {
                out.append(character)
            }
        }
        return (out, nil)
    }

    /// A readable id: the command's program (`/usr/lib/php/sessionclean` → `sessionclean`),
    /// skipping `cd DIR &&`, variable assignments and `[ … ] &&` / `test … ||` guards.
    static func programName(_ command: String) -> String {
        let words = command.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        var index = 0
        while index < words.count {
            let word = words[index]
            if ["&&", "||", ";", "then", "exec", "nice", "ionice", "sudo", "-u", "time", "flock", "timeout"].contains(
                word)
                || word.contains("=") || word.hasPrefix("-")
            {
                index += 1
                continue
            }
            if word == "cd" || word == "[" || word == "test" || word == "[[" {
                // skip to the next && / || / ;
                while index < words.count, !["&&", "||", ";"].contains(words[index]), !words[index].hasSuffix(";") {
                    index += 1
                }
                index += 1
                continue
            }
            if word.hasSuffix(";") || word.hasPrefix("(") || word.hasPrefix("{") || word.first?.isNumber == true {
                index += 1
                continue
            }
            var name = word.split(separator: "/").last.map(String.init) ?? word
            for suffix in [".sh", ".py", ".pl", ".php", ".rb"] where name.hasSuffix(suffix) {
                name = String(name.dropLast(suffix.count))
            }
            return name
        }
        return words.first ?? "job"
    }

    static func channelName(_ addresses: [String]) -> String {
        let local = addresses.first?.split(separator: "@").first.map(String.init) ?? "cron"
        var name = "mail-"
        for character in local.lowercased() {
            name.append(character.isASCII && (character.isLetter || character.isNumber) ? character : "-")
        }
        return addresses.count > 1 ? name + "-and-\(addresses.count - 1)" : name
    }
}

/// The five time fields as cronie accepts them: numbers in range, names for months and days,
/// `*`, ranges, steps after `*` or a range, lists. A name may not start a range's step.
enum CronSyntax {
    static let ranges: [(name: String, range: ClosedRange<Int>, names: [String])] = [
        ("minute", 0...59, []), ("hour", 0...23, []), ("day of month", 1...31, []),
        ("month", 1...12, ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]),
        ("day of week", 0...7, ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]),
    ]

    static func check(_ fields: [String]) -> String? {
        for (index, field) in fields.enumerated() {
            let (name, range, names) = ranges[index]
            func value(_ text: Substring) -> Int? {
                if let number = Int(text), text.allSatisfy(\.isNumber) { return range.contains(number) ? number : nil }
                if let at = names.firstIndex(of: text.lowercased()) { return at + (index == 3 ? 1 : 0) }
                return nil
            }
            for item in field.split(separator: ",", omittingEmptySubsequences: false) {
                let parts = item.split(separator: "/", omittingEmptySubsequences: false)
                if parts.count > 2 || item.isEmpty { return "\(name) field '\(field)' is not valid cron syntax" }
                if parts.count == 2 {
                    guard let step = Int(parts[1]), step > 0 else {
                        return "\(name) field '\(field)': the step must be a positive number"
                    }
                    _ = step
                }
                let base = parts[0]
                if base == "*" { continue }
                let bounds = base.split(separator: "-", omittingEmptySubsequences: false)
                guard bounds.count <= 2, bounds.allSatisfy({ value($0) != nil }) else {
                    return
                        "\(name) field '\(field)': '\(base)' is not \(names.isEmpty ? "a number" : "a number or name") in \(range.lowerBound)-\(range.upperBound)"
                }
                if bounds.count == 1 && parts.count == 2 {
                    return "\(name) field '\(field)': a step needs '*' or a range before it"
                }
                if bounds.count == 2, value(bounds[0])! > value(bounds[1])! {
                    return "\(name) field '\(field)': the range runs backwards"
                }
            }
        }
        return nil
    }
}
