import FoundationEssentials
import JobControlSchedule

extension TimerImporter {
    typealias Note = (ImportNote.Kind, UnitFile.Setting, String) -> Void

    /// [Timer]: schedules, catch-up and delays.
    func mapTimer(_ timer: UnitFile, into job: inout ImportedJob, mapped: inout Set<String>, note: Note) {
        mapped.formUnion(["Timer.OnCalendar", "Timer.Persistent", "Timer.RandomizedDelaySec", "Timer.FixedRandomDelay"])
        // Each as the daemon will read it: one it refuses (systemd ignores such an assignment
        // too, and keeps the others) is reported, not written into a file that cannot load.
        job.schedules = timer.values("Timer", "OnCalendar").compactMap { setting in
            if let problem = Self.scheduleProblem(setting.value) {
                note(.invalid, setting, problem)
                return nil
            }
            return setting.value
        }
        // Assignments an empty OnCalendar= dropped are reported as such (they were written).
        let kept = Set(timer.values("Timer", "OnCalendar").map(\.location))
        for setting in timer.settings where setting.section == "Timer" && setting.key == "OnCalendar" {
            if setting.value.isEmpty {
                note(.notNeeded, setting, "resets the list: the schedules written before it are not imported")
            } else if !kept.contains(setting.location) {
                note(.notNeeded, setting, "dropped by a later empty OnCalendar= (as systemd does)")
            }
        }
        if let setting = timer.value("Timer", "Persistent") {
            job.persistent = UnitFile.bool(setting.value) ?? false
        }
        if let setting = timer.value("Timer", "RandomizedDelaySec") {
            if let seconds = SystemdTime.seconds(setting.value) {
                if seconds > 0 { job.randomizedDelay = SystemdTime.duration(seconds) }
            } else {
                note(.notMapped, setting, "not a time span this import reads")
            }
        }
        if let setting = timer.value("Timer", "FixedRandomDelay"), UnitFile.bool(setting.value) == true {
            job.fixedRandomDelay = true
            note(
                .approximated, setting,
                "the fixed delay is derived from the job id, not from the machine id and unit name")
        }
        // Monotonic timers: every N (on the clock), or at boot.
        for key in ["OnUnitActiveSec", "OnUnitInactiveSec"] {
            mapped.insert("Timer.\(key)")
            for setting in timer.values("Timer", key) {
                if let seconds = SystemdTime.seconds(setting.value), seconds >= 1 {
                    job.intervals.append(SystemdTime.duration(seconds))
                    note(
                        .approximated, setting,
                        "runs every \(SystemdTime.duration(seconds)) on the clock (multiples since the epoch), not \(SystemdTime.duration(seconds)) after the last run"
                    )
                } else {
                    note(.notMapped, setting, "not a time span of at least 1 s")
                }
            }
        }
        for key in ["OnBootSec", "OnStartupSec"] {
            mapped.insert("Timer.\(key)")
            for setting in timer.values("Timer", key) {
                if !job.schedules.contains("@reboot") { job.schedules.append("@reboot") }
                note(
                    .approximated, setting,
                    "runs once per boot (@reboot), when the daemon is up, without waiting \(setting.value) after it")
            }
        }
        if job.schedules.isEmpty && job.intervals.isEmpty {
            // Catch-up and delays belong to a schedule: without one they would not load.
            for key in ["Persistent", "RandomizedDelaySec", "FixedRandomDelay"] {
                if let setting = timer.value("Timer", key) { note(.notNeeded, setting, "no schedule to apply it to") }
            }
            job.persistent = false
            job.randomizedDelay = nil
            job.fixedRandomDelay = false
            job.reported.append(
                ImportNote(
                    .notMapped, location: timer.files.first ?? timer.name, setting: timer.name,
                    reason: "no schedule JobControl can follow: the job runs only when asked (jobctl run)"))
        }
    }

    /// Why the daemon would refuse `expression` as a schedule (it does not parse, or it elapses
    /// more than once a second), or nil.
    static func scheduleProblem(_ expression: String) -> String? {
        let schedule: Schedule
        do { schedule = try Schedule.parse(expression: expression) } catch { return "\(error)" }
        let elapses = schedule.elapses(after: ScheduleTime.currentMicroseconds(), count: 4)
        if zip(elapses, elapses.dropFirst()).contains(where: { $1 - $0 < 1_000_000 }) {
            return "'\(schedule.normalized)' elapses more than once a second; a job runs at most once a second"
        }
        return nil
    }

    /// [Service]: the commands, who runs them, where, with what environment and limits.
    func mapService(
        _ service: UnitFile, name: String, into job: inout ImportedJob, mapped: inout Set<String>, note: Note
    ) throws(ImportError) {
        var unknownSpecifiers: [String] = []
        var lines: [ExecLine] = []
        for key in ["ExecStartPre", "ExecStart", "ExecStartPost"] {
            mapped.insert("Service.\(key)")
            lines += service.values("Service", key).map {
                ExecLine($0, unit: name, unknownSpecifiers: &unknownSpecifiers)
            }
        }
        let main = service.values("Service", "ExecStart")
        guard !main.isEmpty else { throw ImportError("\(name) has no ExecStart=") }
        for (line, setting) in zip(
            lines, service.values("Service", "ExecStartPre") + main + service.values("Service", "ExecStartPost"))
        {
            if line.argv0 { note(.approximated, setting, "argv[0] is the program's path, not the name given after @") }
            if let privileged = line.privileged {
                note(
                    .approximated, setting,
                    "the '\(privileged)' prefix (run with full privileges) has no counterpart: the command runs as the job's user"
                )
            }
        }
        // Environment, and the files of it.
        mapped.insert("Service.Environment")
        for setting in service.values("Service", "Environment") {
            let (expanded, unknown) = SystemdSyntax.specifiers(setting.value, unit: name)
            unknownSpecifiers += unknown.filter { !unknownSpecifiers.contains($0) }
            for word in SystemdSyntax.words(expanded) {
                guard let equals = word.firstIndex(of: "="), equals != word.startIndex else {
                    note(.notMapped, setting, "'\(word)' is not NAME=VALUE")
                    continue
                }
                let name = String(word[..<equals])
                guard ImportedJob.isEnvironmentName(name) else {
                    note(
                        .notMapped, setting, "'\(name)': an environment variable's name must be letters, digits and '_'"
                    )
                    continue
                }
                job.environment.removeAll { $0.0 == name }
                job.environment.append((name, String(word[word.index(after: equals)...])))
            }
        }
        var script: [String] = []
        mapped.insert("Service.EnvironmentFile")
        for setting in service.values("Service", "EnvironmentFile") {
            let optional = setting.value.hasPrefix("-")
            let file = optional ? String(setting.value.dropFirst()) : setting.value
            let quoted = SystemdSyntax.shellQuote(file)
            // NAME=value lines exported as written (no shell expansion, one pair of quotes
            // around the value removed); blanks around the name and the value trimmed, as
            // systemd does (`E = spaced`); comments, blank lines and lines whose name is not a
            // variable's (which systemd ignores too) skipped.
            let trim = #"x=${x#"${x%%[![:space:]]*}"}; x=${x%"${x##*[![:space:]]}"}"#
            let reader =
                #"while IFS= read -r l || [ -n "$l" ]; do x=$l; "# + trim
                + #"; case $x in ''|'#'*|';'*) continue ;; *=*) ;; *) continue ;; esac; x=${x%%=*}; "# + trim
                + #"; k=$x; case $k in ''|[0-9]*|*[!A-Za-z0-9_]*) continue ;; esac; x=${l#*=}; "# + trim
                + #"; v=$x; case $v in \"*\") v=${v#\"}; v=${v%\"} ;; \'*\') v=${v#\'}; v=${v%\'} ;; esac; export "$k=$v"; done < "#
                + quoted
            script.append(optional ? "if [ -r \(quoted) ]; then \(reader); fi" : reader)
            note(
                .approximated, setting,
                "read before the commands by a loop that exports each NAME=value line as written (one pair of quotes around a value is removed; no escapes, no line continuations)"
            )
        }
        let onlyOne = lines.count == 1 && script.isEmpty
        if onlyOne, lines[0].isPlainArgv {
            job.command = .argv(lines[0].words.map { $0.replacing("$$", with: "$") })
        } else {
            // Several commands, a '-' prefix, or variables to expand: an sh script that stops at
            // the first failure, as systemd does.
            script.insert("set -ef", at: 0)
            script += lines.map(\.shellLine.text)
            job.command = .shell(script.joined(separator: "\n"))
        }
        // Who, where, how long.
        mapped.formUnion(["Service.User", "Service.Group", "Service.WorkingDirectory"])
        job.user = service.value("Service", "User").map { SystemdSyntax.specifiers($0.value, unit: name).0 }
        job.group = service.value("Service", "Group").map { SystemdSyntax.specifiers($0.value, unit: name).0 }
        if let setting = service.value("Service", "WorkingDirectory") {
            var directory = SystemdSyntax.specifiers(setting.value, unit: name).0
            if directory.hasPrefix("-") {
                directory.removeFirst()
                note(.approximated, setting, "a missing directory fails the build (systemd ignores it with '-')")
            }
            if directory == "~" {
                note(.notMapped, setting, "the user's home directory: write it out as working_directory")
            } else {
                job.workingDirectory = directory
            }
        }
        mapTimeout(service, into: &job, mapped: &mapped, note: note)
        mapLimits(service, into: &job, mapped: &mapped, note: note)
        for specifier in unknownSpecifiers {
            job.reported.append(
                ImportNote(
                    .notMapped, location: service.files.first ?? name, setting: specifier,
                    reason: "a specifier the import cannot resolve (host, user or runtime dependent): kept as written"))
        }
    }

    func mapTimeout(_ service: UnitFile, into job: inout ImportedJob, mapped: inout Set<String>, note: Note) {
        let oneshot = (service.value("Service", "Type")?.value ?? "simple") == "oneshot"
        mapped.formUnion(["Service.RuntimeMaxSec", "Service.TimeoutStartSec", "Service.TimeoutSec"])
        let runtime = service.value("Service", "RuntimeMaxSec")
        let start = service.value("Service", "TimeoutStartSec") ?? service.value("Service", "TimeoutSec")
        // A oneshot service's run is its start: TimeoutStartSec= limits it (RuntimeMaxSec= is
        // ignored); otherwise RuntimeMaxSec= limits the run.
        let limit = oneshot ? start : runtime
        if let limit {
            if limit.value == "infinity" {
                // no timeout
            } else if let seconds = SystemdTime.seconds(limit.value), seconds > 0 {
                job.timeout = SystemdTime.duration(seconds)
            } else {
                note(.notMapped, limit, "not a time span this import reads")
            }
        }
        if oneshot, let runtime {
            note(.notNeeded, runtime, "systemd ignores RuntimeMaxSec= for Type=oneshot; TimeoutStartSec= is the limit")
        }
        if !oneshot, let start {
            note(
                .notNeeded, start,
                "limits only the start of a Type=\(service.value("Service", "Type")?.value ?? "simple") service; the run's limit is RuntimeMaxSec="
            )
        }
    }

    /// Limits named after systemd's: MemoryMax, CPUQuota, CPUWeight, TasksMax, Nice, LimitNOFILE,
    /// LimitCORE.
    func mapLimits(_ service: UnitFile, into job: inout ImportedJob, mapped: inout Set<String>, note: Note) {
        let keys = [
            ("MemoryMax", "memory_max"), ("CPUQuota", "cpu_quota"), ("CPUWeight", "cpu_weight"),
            ("TasksMax", "tasks_max"), ("Nice", "nice"), ("LimitNOFILE", "limit_nofile"), ("LimitCORE", "limit_core"),
        ]
        for (systemd, ours) in keys {
            mapped.insert("Service.\(systemd)")
            guard let setting = service.value("Service", systemd) else { continue }
            var value = setting.value
            if systemd.hasPrefix("Limit"), let colon = value.firstIndex(of: ":") {
                note(.approximated, setting, "the soft limit \(value[..<colon]) is used as both soft and hard limit")
                value = String(value[..<colon])
            }
            if value == "infinity" || value.hasSuffix("%") && systemd != "CPUQuota" {
                note(.notMapped, setting, "\(ours) takes a number here")
                continue
            }
            if systemd == "MemoryMax" || systemd == "LimitCORE", let last = value.last, "KMGT".contains(last) {
                value = String(value.dropLast()) + String(last)
            }
            job.resources.append((ours, value))
        }
    }
}

/// systemd time spans (systemd.time(7)): `1h 30min`, `90s`, `2d`, a bare number of seconds.
enum SystemdTime {
    static let units: [(String, Double)] = [
        ("usec", 1e-6), ("us", 1e-6), ("µs", 1e-6), ("msec", 1e-3), ("ms", 1e-3), ("seconds", 1), ("second", 1),
        ("sec", 1), ("s", 1), ("minutes", 60), ("minute", 60), ("min", 60), ("m", 60), ("hours", 3600),
        ("hour", 3600), ("hr", 3600), ("h", 3600), ("days", 86400), ("day", 86400), ("d", 86400),
        ("weeks", 604_800), ("week", 604_800), ("w", 604_800), ("months", 2_629_800), ("month", 2_629_800),
        ("M", 2_629_800), ("years", 31_557_600), ("year", 31_557_600), ("y", 31_557_600),
    ]

    /// At most 100 years: anything longer is not a time span an import can carry over.
    static func seconds(_ text: String) -> Double? {
        guard let total = unbounded(text), total <= 3_155_760_000 else { return nil }
        return total
    }

    private static func unbounded(_ text: String) -> Double? {
        var rest = Substring(text.trimmed)
        guard !rest.isEmpty else { return nil }
        var total = 0.0
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " }
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count).drop { $0 == " " }
            let unit = rest.prefix { $0.isLetter || $0 == "µ" }
            if unit.isEmpty {
                total += value
            } else {
                guard let factor = units.first(where: { $0.0 == unit })?.1 else { return nil }
                total += value * factor
            }
            rest = rest.dropFirst(unit.count)
        }
        return total
    }

    /// Whole seconds as JobControl writes durations (`90s`, `30m`, `12h`, `1d`).
    static func duration(_ seconds: Double) -> String {
        let whole = Int64(seconds.rounded(.up))
        for (unit, size) in [("d", Int64(86400)), ("h", 3600), ("m", 60)] where whole % size == 0 && whole >= size {
            return "\(whole / size)\(unit)"
        }
        return "\(whole)s"
    }
}
