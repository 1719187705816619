import Foundation
import Testing

@testable import JobControl
@testable import JobControlImport
@testable import JobControlSchedule

/// `jobctl import cron|timer` over the corpus in Fixtures/import (real-world crontabs and timers):
/// the YAML it writes loads, and every imported job's next 50 elapses are those of the original,
/// as computed by independent implementations: croniter for cron, `systemd-analyze calendar` for
/// timers (through the corpus's check scripts). Nothing is dropped without a note.
@Suite struct ImportTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/import")
    /// 2026-01-01 00:00:00 UTC, the base time of the check scripts.
    static let base: Int64 = 1_767_225_600

    /// Runs a check script; its lines split at tabs.
    static func oracle(_ arguments: [String]) throws -> [[String]] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(["TZ": "UTC"]) { _, new in new }
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(arguments.joined(separator: " ")): \(text.suffix(2000))")
        return text.split(separator: "\n").map {
            $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        }
    }

    /// The first `count` elapses of a loaded job's schedules after `base`, in Unix seconds.
    static func elapses(_ job: JobConfig, count: Int = 50) -> [Int64] {
        guard let policy = job.schedule else { return [] }
        var result: [Int64] = []
        var cursor = base * 1_000_000
        while result.count < count, let next = policy.next(after: cursor) {
            result.append(next / 1_000_000)
            cursor = next
        }
        return result
    }

    /// The imported jobs as JobControl loads them (users left out: they do not exist here).
    static func load(_ result: ImportResult) throws -> DaemonConfig {
        var result = result
        for index in result.jobs.indices { result.jobs[index].user = nil; result.jobs[index].group = nil }
        var yaml = YAMLEmitter.render(result, command: "test")
        if !result.channels.isEmpty {
            yaml =
                "notifications:\n  channels:\n"
                + result.channels.map {
                    "    \($0.name): {email: \(YAMLEmitter.quote($0.addresses.joined(separator: ",")))}\n"
                }
                .joined() + yaml
        }
        return try ConfigLoader.parse(yaml: yaml, file: result.source)
    }

    @Test func crontabsElapseAsCroniterSays() throws {
        let directory = Self.fixtures.appendingPathComponent("cron")
        let expected = try Self.oracle([directory.appendingPathComponent("check_corpus.py").path])
            .filter { $0.count == 3 && $0[0].contains(":") }
        var compared = 0
        var reboots = 0
        var invalid = 0
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter {
            $0.hasSuffix(".crontab")
        }
        .sorted()
        #expect(files.count >= 5)
        for file in files {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            let format: CrontabImporter.Format = file.hasPrefix("system-") ? .system : .user(nil)
            let prefix = String(file.dropLast(".crontab".count)) + "-"
            let result = CrontabImporter(path: file, format: format, idPrefix: prefix).run(text)
            let config = try Self.load(result)
            let lines = expected.filter { $0[0].hasPrefix(file + ":") }
            #expect(!lines.isEmpty, "the oracle knows \(file)")
            for line in lines {
                let number = Int(line[0].split(separator: ":").last!)!
                let imported = result.jobs.first { $0.sourceLine == number }
                if line[1] == "INVALID" {
                    invalid += 1
                    #expect(imported == nil, "\(line[0]) is invalid but was imported")
                    #expect(
                        result.notes.contains { $0.kind == .invalid && $0.location == line[0] },
                        "\(line[0]) is invalid and not reported")
                    continue
                }
                guard let imported, let job = config.job(imported.id) else {
                    Issue.record("\(line[0]) (\(line[1])) was not imported")
                    continue
                }
                if line[1] == "@reboot" {
                    reboots += 1
                    #expect(job.schedule?.schedules.map(\.rule) == [.reboot], "\(line[0])")
                    continue
                }
                let oracle = line[2].split(separator: ",").compactMap { Int64($0) }
                #expect(oracle.count == 50, "\(line[0])")
                #expect(Self.elapses(job) == oracle, "\(line[0]) '\(line[1])': JobControl and croniter disagree")
                compared += 1
            }
            #expect(result.jobs.count == lines.count { $0[1] != "INVALID" }, "\(file): a job for every job line")
        }
        #expect(
            compared + reboots >= 40 && invalid >= 3, "\(compared) compared, \(reboots) @reboot, \(invalid) invalid")
    }

    @Test func timersElapseAsSystemdAnalyzeSays() throws {
        let directory = Self.fixtures.appendingPathComponent("timers")
        let expected = try Self.oracle([
            directory.appendingPathComponent("check_corpus.py").path, "--elapses", "--no-verify",
        ])
        .filter { $0.count == 3 && $0[0].hasSuffix(".timer") && $0[1] != "-" }
        var importer = TimerImporter(unitDirectories: [directory.path])
        let result = importer.run(path: directory.path)
        #expect(result.notes.isEmpty, "\(result.notes)")
        #expect(result.jobs.count >= 15)
        let config = try Self.load(result)
        var compared = 0
        for imported in result.jobs {
            let timer = imported.source.split(separator: ",").first.map { String($0.split(separator: "/").last!) }!
            let lines = expected.filter { $0[0] == timer }
            guard let job = config.job(imported.id) else {
                Issue.record("\(timer) did not load")
                continue
            }
            let calendars = job.schedule?.schedules.filter { if case .calendar = $0.rule { true } else { false } } ?? []
            #expect(calendars.count == lines.count, "\(timer): \(calendars.map(\.text)) against \(lines.map { $0[1] })")
            guard !lines.isEmpty else { continue }
            // The union of every expression's elapses, as systemd runs a timer with several.
            let oracle = Array(
                Set(lines.flatMap { $0[2].split(separator: ",").compactMap { Int64($0) } }).sorted().prefix(50))
            var policy = job.schedule!
            policy.schedules = calendars
            var ours: [Int64] = []
            var cursor = Self.base * 1_000_000
            while ours.count < oracle.count, let next = policy.next(after: cursor) {
                ours.append(next / 1_000_000)
                cursor = next
            }
            #expect(ours == oracle, "\(timer): JobControl and systemd-analyze disagree")
            compared += 1
        }
        #expect(compared >= 15)
    }

    /// Every setting written in a unit file (its drop-ins included) is carried over or reported:
    /// the settings are listed here independently of the importer.
    @Test func noTimerSettingIsDroppedSilently() throws {
        let directory = Self.fixtures.appendingPathComponent("timers")
        var importer = TimerImporter(unitDirectories: [directory.path])
        let result = importer.run(path: directory.path)
        let carried: Set<String> = [
            "Description", "OnCalendar", "Persistent", "RandomizedDelaySec", "Unit", "ExecStart", "ExecStartPre",
            "ExecStartPost", "Environment", "User", "Group", "WorkingDirectory", "MemoryMax", "CPUQuota",
            "CPUWeight", "TasksMax", "Nice", "LimitNOFILE", "LimitCORE", "TimeoutStartSec", "TimeoutSec",
            "RuntimeMaxSec",
        ]
        for job in result.jobs {
            let files = job.source.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            for file in files {
                let text = try String(contentsOfFile: file, encoding: .utf8)
                for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                    guard let first = line.first, first.isLetter, let equals = line.firstIndex(of: "=") else {
                        continue
                    }
                    let key = line[..<equals].trimmingCharacters(in: .whitespaces)
                    let location = "\(file):\(index + 1)"
                    let reported = job.reported.contains { $0.location == location }
                    #expect(carried.contains(key) || reported, "\(location): \(key)= is neither imported nor reported")
                }
            }
        }
    }

    @Test func cronLinesAreReadAsCronReadsThem() {
        #expect(CrontabImporter.assignment("FOO = bar")! == ("FOO", "bar"))
        #expect(CrontabImporter.assignment("GREETING=\"hello world\"")! == ("GREETING", "hello world"))
        #expect(CrontabImporter.assignment("MAILTO=\"\"")! == ("MAILTO", ""))
        #expect(CrontabImporter.assignment("0 * * * * FOO=bar cmd") == nil)
        #expect(CrontabImporter.assignment("X=\"a\" # note") == nil, "cronie reads a job line here")
        #expect(CrontabImporter.splitPercent("date +\\%F%line one%line two") == ("date +%F", "line one\nline two\n"))
        #expect(CrontabImporter.splitPercent("mail x%100\\% done\\n%") == ("mail x", "100% done\\n\n"))
        #expect(CrontabImporter.splitPercent("echo 100\\%") == ("echo 100%", nil))
        #expect(CrontabImporter.programName("cd /srv/app && ./bin/run-report.sh --daily") == "run-report")
        #expect(
            CrontabImporter.programName("[ -x /usr/lib/php/sessionclean ] && /usr/lib/php/sessionclean")
                == "sessionclean")
        let result = CrontabImporter(path: "t", format: .user("ann")).run(
            "MAILTO=ops@example.com\nSHELL=/bin/bash\n# nightly report\n0 2 * * * report % a%b\n")
        let job = result.jobs[0]
        #expect(job.title == "nightly report" && job.user == "ann" && job.notifyChannel == "mail-ops")
        #expect(job.command == .argv(["/bin/bash", "-c", "printf '%s' ' a\nb\n' | {\nreport \n}"]))
        #expect(result.channels.map(\.name) == ["mail-ops"])
    }

    /// cronie's `-` (no syslog line) is read where cronie reads it, and a last line without a
    /// newline, which cron never runs, is not imported as a job.
    @Test func cronieQuietLinesAndAMissingLastNewline() {
        let system = CrontabImporter(path: "t", format: .system).run(
            "-0 1 * * * root /usr/bin/quiet\n-@daily root loud\n")
        #expect(system.jobs.map(\.schedules) == [["0 1 * * *"], ["@daily"]], "\(system.notes)")
        #expect(system.jobs[0].reported.contains { $0.setting.contains("'-'") })
        let spaced = CrontabImporter(path: "t", format: .system).run("- 0 1 * * * root quiet\n")
        #expect(spaced.jobs.isEmpty && spaced.notes.contains { $0.kind == .invalid })
        let ann = CrontabImporter(path: "t", format: .user("ann")).run("-0 1 * * * quiet\n")
        #expect(ann.jobs.isEmpty && ann.notes.contains { $0.kind == .invalid && $0.reason.contains("root") })
        let unterminated = CrontabImporter(path: "t", format: .user("root")).run("0 1 * * * first\n0 2 * * * last")
        #expect(unterminated.jobs.map(\.schedules) == [["0 1 * * *"]])
        #expect(unterminated.notes.contains { $0.location == "t:2" && $0.reason.contains("no newline") })
    }

    @Test func systemdWordsQuotesAndVariablesBecomeShell() {
        #expect(SystemdSyntax.words(#"/bin/echo "a b" 'c d' e\ f \x41"#) == ["/bin/echo", "a b", "c d", "e f", "A"])
        #expect(SystemdSyntax.shellWord("$FOO", expand: true).text == "$FOO")
        #expect(SystemdSyntax.shellWord("--tag=${TAG}x", expand: true).text == "--tag=\"${TAG}\"x")
        #expect(SystemdSyntax.shellWord("$FOO", expand: false).text == "'$FOO'")
        #expect(SystemdSyntax.shellWord("it's", expand: true).text == "'it'\\''s'")
        #expect(SystemdSyntax.shellWord("$1", expand: true).text == "'$1'", "systemd expands no $1")
        #expect(SystemdSyntax.words(#"a\sb \101\u00e9 \r"#) == ["a b", "Aé", "\r"])
        #expect(SystemdSyntax.unescaped(#"srv-www\x2dold"#) == "srv/www-old")
        #expect(
            SystemdSyntax.specifiers("%n %N %p %i %% %H", unit: "sync@web.service").0
                == "sync@web.service sync@web sync web % %H")
        #expect(SystemdTime.seconds("1h 30min") == 5400 && SystemdTime.seconds("90") == 90)
        #expect(SystemdTime.duration(5400) == "90m" && SystemdTime.duration(86400) == "1d")
    }

    /// Nothing in a crontab can end a comment or a string of the YAML written for it: every line
    /// break YAML knows is escaped (a crafted MAILTO once wrote a job that ran as root).
    /// What a hostile review of the importers found: cron's working directory, MAILTO sets
    /// that read alike, a sixth time field, text that is not UTF-8, and timer templates.
    @Test func cronAndTimerCornersAreKept() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let (write, file) = (scratch.write, scratch.file)
        try write("passwd", "root:x:0:0:root:/root:/bin/bash\nann:x:1000:1000::/home/ann:/bin/sh\n")
        var importer = CrontabImporter(path: "t", format: .system)
        importer.passwdFile = file("passwd")
        let result = importer.run(
            """
            MAILTO=ops@alpha.example
            0 1 * * * ann ./rotate.sh
            0 3 * * * nobody-here true
            MAILTO=ops@beta.example
            HOME=/srv/maint
            0 2 * * * root ./backup.sh
            */5 * * * * * root /usr/bin/seconds
            """)
        #expect(result.jobs.map(\.workingDirectory) == ["/home/ann", nil, "/srv/maint"])
        #expect(result.jobs[1].reported.contains { $0.reason.contains("home directory of nobody-here") })
        // Two address sets, two channels, each job mailing its own.
        #expect(result.channels.map(\.1) == [["ops@alpha.example"], ["ops@beta.example"]])
        #expect(result.jobs[0].notifyChannel != result.jobs[2].notifyChannel)
        #expect(result.notes.contains { $0.kind == .invalid && $0.reason.contains("sixth time field") })
        #expect(!result.jobs.contains { $0.id.contains("seconds") })

        #expect(throws: ImportError.self) {
            try ImportFiles.text(of: Array("0 1 * * * ok\n0 2 * * * caf".utf8) + [0xE9, 10], source: "c")
        }
        do {
            _ = try ImportFiles.text(of: Array("a\nb\n".utf8) + [0xE9], source: "c")
        } catch {
            #expect(error.description.hasPrefix("c:3: not UTF-8"), "\(error)")
        }

        // A template timer is not a job; an instance is read from the templates, with %i.
        try write("backup@.timer", "[Timer]\nOnCalendar=*-*-* 02:00:00\n")
        try write("backup@.service", "[Service]\nExecStart=/usr/local/bin/backup --target %i\n")
        var timers = TimerImporter(unitDirectories: [scratch.path])
        let template = timers.run(path: file("backup@.timer"))
        #expect(template.jobs.isEmpty && template.notes.contains { $0.reason.contains("is a template") })
        let instance = timers.run(path: file("backup@home.timer"))
        #expect(
            instance.jobs.first?.command == .argv(["/usr/local/bin/backup", "--target", "home"]),
            "\(instance.jobs) \(instance.notes)")
    }

    /// What the daemon would refuse is reported, not written: an `OnCalendar=` that does not
    /// parse or elapses more than once a second, catch-up and delays without a schedule, an
    /// unknown `CRON_TZ`. The imports load.
    @Test func importsNeverWriteWhatTheDaemonRefuses() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let write = scratch.write
        try write("bad.timer", "[Timer]\nOnCalendar=Mon..Fri 25:00\nOnCalendar=weekly\nOnCalendar=*:*:0/0.5\n")
        try write("bad.service", "[Service]\nExecStart=/bin/true\n")
        try write("boot.timer", "[Timer]\nOnActiveSec=1h\nPersistent=true\nRandomizedDelaySec=5m\n")
        try write("boot.service", "[Service]\nExecStart=/bin/true\n")
        var timers = TimerImporter(unitDirectories: [scratch.path])
        let bad = timers.run(path: scratch.file("bad.timer"))
        #expect(bad.jobs.first?.schedules == ["weekly"], "\(bad.jobs)")
        #expect(bad.jobs.first?.reported.filter { $0.kind == .invalid }.count == 2, "\(bad.jobs)")
        _ = try Self.load(bad)
        let unscheduled = timers.run(path: scratch.file("boot.timer"))
        #expect(unscheduled.jobs.first?.persistent == false && unscheduled.jobs.first?.randomizedDelay == nil)
        _ = try Self.load(unscheduled)
        let crontab = CrontabImporter(path: "t", format: .user("root")).run("CRON_TZ=Mars/Base\n0 0 * * * /bin/a\n")
        #expect(crontab.jobs.first?.timezone == nil)
        #expect(crontab.notes.contains { $0.reason.contains("unknown time zone 'Mars/Base'") }, "\(crontab.notes)")
        _ = try Self.load(crontab)
    }

    /// An `EnvironmentFile=` is read as systemd reads it: blanks around a name and a value
    /// trimmed, a line whose name is not a variable's skipped (one such line failed every build
    /// of the imported job: `export: E : bad variable name`).
    @Test func anEnvironmentFileIsReadAsSystemdReadsIt() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = scratch.file
        try "A=1\nE = spaced\n  B=\"two words\"\nexport D=x\n# comment\n9X=bad\n".write(
            toFile: path("env"), atomically: true, encoding: .utf8)
        try "[Timer]\nOnCalendar=daily\n".write(toFile: path("e.timer"), atomically: true, encoding: .utf8)
        try "[Service]\nEnvironmentFile=\(path("env"))\nExecStart=/bin/sh -c \"echo A=$$A E=$$E B=$$B\"\n".write(
            toFile: path("e.service"), atomically: true, encoding: .utf8)
        var importer = TimerImporter(unitDirectories: [scratch.path])
        let result = importer.run(path: path("e.timer"))
        guard case .shell(let script)? = result.jobs.first?.command else {
            Issue.record("not a script: \(result.jobs)")
            return
        }
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", script]
        let output = Pipe()
        shell.standardOutput = output
        try shell.run()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        shell.waitUntilExit()
        #expect(shell.terminationStatus == 0)
        #expect(printed == "A=1 E=spaced B=two words\n", "\(printed)")
    }

    @Test func craftedTextCannotWriteYAML() throws {
        let crontab =
            "MAILTO=a@b.org\u{2028}  - {id: evil, command: id, user: root}\u{2028}  #\n"
            + "X=1\u{85}evil\r\n0 1 * * * echo \"$X\"\u{2029}  - {id: evil2, command: id}\r\n"
        let result = CrontabImporter(path: "t\u{2028}- {id: evil3}", format: .user(nil)).run(crontab)
        let config = try ImportTests.load(result)
        #expect(config.jobs.map(\.id) == ["echo"], "\(YAMLEmitter.render(result, command: "t"))")
        let job = try #require(config.job("echo"))
        #expect(job.environment["X"] == .string("1\u{85}evil"))
        #expect(job.args.first == .string("echo \"$X\"\u{2029}  - {id: evil2, command: id}"))
    }
}

/// A directory of files a test writes, removed with ``remove()``.
struct Scratch {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("jc-import-\(UUID().uuidString)").path

    init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }

    func file(_ name: String) -> String { path + "/" + name }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: file(name), atomically: true, encoding: .utf8)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}
