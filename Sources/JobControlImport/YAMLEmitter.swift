import FoundationEssentials

/// Writes imported jobs as a JobControl job file (`jobs.d/*.yaml`): every string double-quoted
/// (YAML's escapes are JSON's, so no value can change meaning), a comment naming each job's
/// source and what was not carried over.
public enum YAMLEmitter {
    public static func render(_ result: ImportResult, command: String) -> String {
        var out = comment("Imported by `\(command)` from \(result.source).", indent: "# ")
        out += "# Check it with `jobctl check-config`, then reload (`systemctl reload jobcontrold`).\n"
        if !result.channels.isEmpty {
            out += "#\n# The jobs below notify these email channels (cron's MAILTO); add them to the main\n"
            out += "# configuration file, under notifications: channels:\n"
            for channel in result.channels {
                out += comment(
                    "\(channel.name): {email: \(quote(channel.addresses.joined(separator: ", ")))}", indent: "#   ")
            }
        }
        if !result.notes.isEmpty {
            out += "#\n# Not imported, or not as written:\n"
            for note in result.notes { out += comment(note, indent: "#   ") }
        }
        out += "jobs:\n"
        if result.jobs.isEmpty { out = out.dropLast() + " []\n" }
        for job in result.jobs { out += "\n" + render(job) }
        return out
    }

    static func render(_ job: ImportedJob) -> String {
        var out = comment("From \(job.source)", indent: "  # ")
        for note in job.reported { out += comment(note, indent: "  #   ") }
        out += "  - id: \(quote(job.id))\n"
        func line(_ key: String, _ value: String) { out += "    \(key): \(value)\n" }
        if let title = job.title { line("title", quote(title)) }
        if let notes = job.notes { line("notes", quote(notes)) }
        switch job.command {
        case .shell(let script): line("command", quote(script))
        case .argv(let argv): line("command", "[" + argv.map(quote).joined(separator: ", ") + "]")
        }
        if let user = job.user { line("user", quote(user)) }
        if let group = job.group { line("group", quote(group)) }
        if let directory = job.workingDirectory { line("working_directory", quote(directory)) }
        if !job.environment.isEmpty {
            out += "    environment:\n"
            var seen: [String: String] = [:]
            var order: [String] = []
            for (name, value) in job.environment {
                if seen[name] == nil { order.append(name) }
                seen[name] = value
            }
            for name in order { out += "      \(quote(name)): \(quote(seen[name]!))\n" }
        }
        let schedules = job.schedules.map(quote) + job.intervals.map { "{every: \(quote($0))}" }
        if schedules.count == 1 {
            line("schedule", schedules[0])
        } else if !schedules.isEmpty {
            out += "    schedule:\n"
            for schedule in schedules { out += "      - \(schedule)\n" }
        }
        if let timezone = job.timezone { line("timezone", quote(timezone)) }
        if job.persistent { line("persistent", "true") }
        if let delay = job.randomizedDelay { line("randomized_delay", quote(delay)) }
        if job.fixedRandomDelay { line("fixed_random_delay", "true") }
        if let timeout = job.timeout { line("timeout", quote(timeout)) }
        for (key, value) in job.resources { line(key, Int(value) != nil ? value : quote(value)) }
        if let channel = job.notifyChannel {
            line("notify", "[{channel: \(quote(channel)), events: [failed, still_failing]}]")
        }
        return out
    }

    /// A note as comment lines. A comment ends at any line break YAML knows (LF, CR, NEL, LS, PS),
    /// so every control and break character is shown escaped instead: nothing in a crontab or
    /// unit can end the comment and write YAML.
    static func comment(_ note: ImportNote, indent: String) -> String {
        comment("\(note.location): \(note.kind.rawValue): \(note.setting): \(note.reason)", indent: indent)
    }

    static func comment(_ text: String, indent: String) -> String {
        var out = indent
        for scalar in text.unicodeScalars {
            if scalar == "\n" {
                out += "\n" + indent
            } else if needsEscape(scalar) {
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "\n"
    }

    /// Control characters (C0, DEL, C1), YAML's other line breaks (NEL, LS, PS) and the BOM.
    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || [0x2028, 0x2029, 0xFEFF].contains(scalar.value)
    }

    /// A double-quoted YAML scalar.
    public static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where needsEscape(scalar):
                out += "\\u" + String(scalar.value, radix: 16).leftPadded(to: 4)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
