import FoundationEssentials

/// Reads a systemd timer and the service it activates (with their drop-ins) and turns them into
/// one job. Every setting is either carried over, or reported with the reason.
public struct TimerImporter {
    /// Where the activated service and drop-ins are looked for, after the timer's own directory.
    public var unitDirectories: [String]
    var ids = JobIDs()

    public init(unitDirectories: [String] = ["/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system"]) {
        self.unitDirectories = unitDirectories
    }

    /// Imports `path`: a `.timer` file, or a directory whose `.timer` files are imported in order.
    public mutating func run(path: String) -> ImportResult {
        var result = ImportResult(source: path)
        let timers =
            isDirectory(path) ? listDirectory(path).filter { $0.hasSuffix(".timer") }.map { path + "/" + $0 } : [path]
        if timers.isEmpty {
            result.notes.append(ImportNote(.invalid, location: path, setting: path, reason: "no .timer file here"))
        }
        for timer in timers {
            do {
                result.jobs.append(try importTimer(timer))
            } catch {
                result.notes.append(ImportNote(.invalid, location: timer, setting: timer, reason: error.description))
            }
        }
        return result
    }

    /// Settings that need no counterpart: JobControl does this itself, or it means nothing here.
    static let notNeeded: [String: String] = [
        "Install.WantedBy": "JobControl starts the job by itself; there is no timers.target to join",
        "Install.RequiredBy": "JobControl starts the job by itself",
        "Install.Also": "JobControl starts the job by itself",
        "Install.Alias": "no unit is installed",
        "Service.Type": "a build runs the commands in order and ends when they end",
        "Service.StandardOutput": "a build's output goes to its log (and to the journal, with JOBCONTROL_JOB=)",
        "Service.StandardError": "a build's output goes to its log (and to the journal, with JOBCONTROL_JOB=)",
        "Service.SyslogIdentifier": "a build's journal lines carry JOBCONTROL_JOB= instead",
        "Unit.Documentation": "kept in the job's notes",
        "Timer.RemainAfterElapse": "an occurrence is recorded once, whatever the timer's state",
        "Timer.AccuracySec": "JobControl starts an occurrence on time (systemd may coalesce it up to this late)",
    ]

    mutating func importTimer(_ path: String) throws(ImportError) -> ImportedJob {
        var directory = path.split(separator: "/").dropLast().joined(separator: "/")
        directory =
            directory.isEmpty ? (path.hasPrefix("/") ? "/" : ".") : (path.hasPrefix("/") ? "/" + directory : directory)
        // systemd's precedence (/etc over /run over /lib) when the timer is in one of those; a
        // directory of units elsewhere (./units) comes first.
        let directories = unitDirectories.contains(directory) ? unitDirectories : [directory] + unitDirectories
        var timer: UnitFile
        let fileName = String(path.split(separator: "/").last ?? Substring(path))
        if !isRegularFile(path), let at = fileName.firstIndex(of: "@"),
            fileName[fileName.index(after: at)...] != ".timer"
        {
            // An instance without a file of its own (`backup@home.timer`): its template's.
            let template = String(path.dropLast(fileName.count)) + String(fileName[...at]) + ".timer"
            timer = try UnitFile.read(path: template, dropInDirectories: directories)
            timer.name = fileName
        } else {
            timer = try UnitFile.read(path: path, dropInDirectories: directories)
        }
        let base = String(timer.name.dropLast(".timer".count))
        if base.hasSuffix("@") {
            throw ImportError(
                "\(timer.name) is a template: systemd runs only its instances (\(base)NAME.timer, enabled as such); import those"
            )
        }
        let serviceName = timer.value("Timer", "Unit")?.value ?? base + ".service"
        guard !serviceName.contains("/"), serviceName.hasSuffix(".service") else {
            throw ImportError("Unit=\(serviceName): only a .service unit given by name can be imported")
        }
        // An instance (`backup@home.service`) is read from its template (`backup@.service`) when
        // it has no file of its own, as systemd does; its specifiers then expand with `home`.
        var candidates = [serviceName]
        if let at = serviceName.firstIndex(of: "@"), serviceName[serviceName.index(after: at)...] != ".service" {
            candidates.append(String(serviceName[...at]) + ".service")
        }
        guard
            let servicePath = candidates.lazy.compactMap({ name in
                directories.map { $0 + "/" + name }.first(where: isRegularFile)
            }).first
        else {
            throw ImportError(
                "the service it activates, \(serviceName), is not in \(directories.joined(separator: ", "))")
        }
        var service = try UnitFile.read(path: servicePath, dropInDirectories: directories)
        service.name = serviceName
        var mapped: Set<String> = ["Timer.Unit"]
        var job = ImportedJob(
            id: ids.make(from: base),
            source: ([path, servicePath]
                + (timer.files + service.files).filter {
                    $0 != path && $0 != servicePath
                }).joined(separator: ", "), command: .argv([]))
        var notes: [ImportNote] = []
        func note(_ kind: ImportNote.Kind, _ setting: UnitFile.Setting, _ reason: String) {
            notes.append(
                ImportNote(kind, location: setting.location, setting: "\(setting.key)=\(setting.value)", reason: reason)
            )
        }
        // [Unit]: the timer's description is the job's title (the service's when it has none).
        if let description = timer.value("Unit", "Description") ?? service.value("Unit", "Description") {
            job.title = description.value
        }
        mapped.insert("Unit.Description")
        let documentation = (timer.values("Unit", "Documentation") + service.values("Unit", "Documentation")).map(
            \.value)
        job.notes =
            "Imported from \(timer.name) and \(serviceName)."
            + (documentation.isEmpty ? "" : " Documentation: " + documentation.joined(separator: " "))
        mapTimer(timer, into: &job, mapped: &mapped, note: note)
        try mapService(service, name: serviceName, into: &job, mapped: &mapped, note: note)
        for (unit, file) in [("timer", timer), ("service", service)] {
            for setting in file.settings where !mapped.contains("\(setting.section).\(setting.key)") {
                let key = "\(setting.section).\(setting.key)"
                if let reason = Self.notNeeded[key] {
                    note(.notNeeded, setting, reason)
                } else if setting.section == "Unit" {
                    note(
                        .notMapped, setting,
                        "the \(unit)'s [Unit] dependencies and conditions have no counterpart: a build starts when due"
                    )
                } else if setting.section != "Timer" && setting.section != "Service" && setting.section != "Install" {
                    note(.notMapped, setting, "section [\(setting.section)] is not read by the import")
                } else if Self.isSandboxing(setting.key) {
                    note(
                        .notMapped, setting,
                        "builds run in the daemon's own sandbox: set it in jobcontrold.service (a drop-in) if every job may have it"
                    )
                } else {
                    note(.notMapped, setting, Self.unmappedReasons[setting.key] ?? "JobControl has no such setting")
                }
            }
        }
        job.reported = notes + job.reported
        return job
    }

    /// systemd's sandboxing settings (systemd.exec(5), "Sandboxing" and "Security").
    static func isSandboxing(_ key: String) -> Bool {
        ["Protect", "Private", "Restrict", "ReadWrite", "ReadOnly", "Inaccessible", "SystemCall", "Capability"]
            .contains { key.hasPrefix($0) }
            || [
                "NoNewPrivileges", "LockPersonality", "MemoryDenyWriteExecute", "AmbientCapabilities", "RemoveIPC",
                "DevicePolicy", "DeviceAllow", "IPAddressDeny", "IPAddressAllow", "UMask", "KeyringMode",
                "NoExecPaths", "ExecPaths", "TemporaryFileSystem", "BindPaths", "BindReadOnlyPaths",
            ].contains(key)
    }

    static let unmappedReasons: [String: String] = [
        "WakeSystem": "JobControl cannot wake the machine from suspend",
        "OnClockChange": "JobControl does not run jobs when the clock jumps",
        "OnTimezoneChange": "JobControl does not run jobs when the time zone changes",
        "OnActiveSec": "a delay after the timer was started has no counterpart",
        "DynamicUser": "JobControl runs the build as a named user ('user:'); create one",
        "SuccessExitStatus": "a command's exit status other than 0 fails the build",
        "MemoryHigh": "JobControl has memory_max only (a hard limit)",
        "IOSchedulingClass": "no I/O scheduling setting; wrap the command in ionice",
        "IOSchedulingPriority": "no I/O scheduling setting; wrap the command in ionice",
        "CPUSchedulingPolicy": "no CPU scheduling policy setting; wrap the command in chrt",
        "OnFailure": "use notify: with a channel (docs/notifications.md) or a trigger channel",
        "ExecStopPost": "no command runs after a build; use a trigger channel",
        "ExecStop": "a cancelled build's processes are stopped by JobControl",
        "Restart": "use retries: on the job",
        "RestartSec": "use retries: {backoff: …} on the job",
        "KillMode": "a build's processes are all stopped when it ends (containment)",
    ]
}
