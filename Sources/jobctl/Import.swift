import ArgumentParser
import FoundationEssentials
import Glibc
import JobControlImport

extension JobCtl {
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Turn crontabs and systemd timers into JobControl job files.",
            discussion: """
                Prints YAML for jobs.d/ (or writes it with --output), each job with a comment naming its \
                source, and lists on standard error every setting it could not carry over, with the \
                reason. Nothing is changed on the system: check the file with 'jobctl check-config', \
                then reload. See docs/migrating.md.
                """,
            subcommands: [Cron.self, Timer.self])
    }
}

/// Where an import's YAML goes and how its notes are shown: shared by both imports.
struct ImportOutput: ParsableArguments {
    @Option(name: [.customShort("o"), .long], help: "Write the YAML to this file (refused if it exists).")
    var output: String?

    func write(_ result: ImportResult, command: String) throws {
        let yaml = YAMLEmitter.render(result, command: command)
        // Nothing imported: no file is written (a retry would find it and be refused).
        if let output, !result.jobs.isEmpty {
            let descriptor = open(output, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else {
                throw ValidationError("cannot create \(output): \(String(cString: strerror(errno)))")
            }
            // All of it, or no file: a cut-off file (a full disk) would be read as the jobs, and
            // a retry would find it and be refused (O_EXCL). The file is this call's own.
            var failure = writeAll(descriptor, yaml)
            if failure == 0, fsync(descriptor) != 0 { failure = errno }
            if close(descriptor) != 0, failure == 0 { failure = errno }
            guard failure == 0 else {
                unlink(output)
                printError("cannot write \(output): \(String(cString: strerror(failure))); nothing was written")
                throw ExitCode(74)
            }
        } else if output == nil {
            print(yaml, terminator: "")
        }
        let notes = result.allNotes
        var summary = "imported \(result.jobs.count) job\(result.jobs.count == 1 ? "" : "s") from \(result.source)"
        if let output, !result.jobs.isEmpty { summary += " into \(output)" }
        printError(summary + (notes.isEmpty ? "" : "; \(notes.count) note\(notes.count == 1 ? "" : "s"):"))
        for note in notes { printError("  \(note)") }
        if result.jobs.isEmpty { throw ExitCode(1) }
    }
}

extension JobCtl.Import {
    struct Cron: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cron",
            abstract: "Import a crontab (a user's, or /etc/crontab and /etc/cron.d's with a user column).")

        @Argument(help: "The crontab file ('-' for standard input, as 'crontab -l | jobctl import cron -').")
        var file: String

        @Flag(
            help:
                "The system format: a user column after the five time fields (default for /etc/crontab and /etc/cron.d/*)."
        )
        var system = false

        @Option(help: "Run the jobs of a user crontab as this user (default: the file's name in cron's spool).")
        var user: String?

        @Option(help: "Start every job id with this (as 'alice-'), to keep the ids of several crontabs apart.")
        var prefix = ""

        @OptionGroup var output: ImportOutput

        func run() throws {
            let pathFormat = CrontabImporter.format(forPath: file)
            if case .system = pathFormat, user != nil, !system {
                // --user made it a user crontab: the user column became part of every command.
                throw ValidationError(
                    "\(file) is a system crontab (a user column after the time fields); --user is for a user's crontab")
            }
            if system, user != nil {
                throw ValidationError("--system and --user do not go together: a system crontab names each line's user")
            }
            let format: CrontabImporter.Format = system ? .system : user.map { .user($0) } ?? pathFormat
            let text: String
            do {
                text = file == "-" ? try ImportFiles.readStandardInput() : try ImportFiles.read(file)
            } catch {
                throw ValidationError("\(error)")
            }
            let result = CrontabImporter(path: file == "-" ? "standard input" : file, format: format, idPrefix: prefix)
                .run(text)
            try output.write(result, command: "jobctl import cron")
        }
    }

    struct Timer: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "timer",
            abstract: "Import a systemd timer and the service it starts (or every timer in a directory).")

        @Argument(help: "A .timer unit file, or a directory of them.")
        var path: String

        @Option(
            name: .customLong("unit-path"),
            help:
                "Also look here for the service and for drop-ins (repeatable; default /etc/systemd/system, /run/systemd/system, /lib/systemd/system)."
        )
        var unitPaths: [String] = []

        @OptionGroup var output: ImportOutput

        func run() throws {
            var importer = TimerImporter()
            if !unitPaths.isEmpty { importer.unitDirectories = unitPaths }
            try output.write(importer.run(path: path), command: "jobctl import timer")
        }
    }
}
