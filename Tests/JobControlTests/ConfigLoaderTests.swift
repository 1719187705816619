import Foundation
import Testing

@testable import JobControl

@Suite struct ConfigLoaderTests {
    func parse(_ yaml: String) throws -> DaemonConfig {
        try ConfigLoader.parse(yaml: yaml, file: "test.yaml")
    }

    func errors(_ yaml: String) -> [String] { configErrors(yaml) }

    @Test func sampleConfigurationLoads() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let config = try ConfigLoader.load(file: root.appendingPathComponent("etc/jobcontrol/jobcontrol.yaml").path)
        #expect(config.jobs.count >= 3)
        #expect(config.job("hello") != nil)
        #expect(config.file?.hasSuffix("etc/jobcontrol/jobcontrol.yaml") == true)
    }

    @Test func daemonKeysAndDefaults() throws {
        let config = try parse("storage: 'sqlite::memory:'\nsocket: /tmp/x.sock\nworkers: 3\n")
        #expect(config.storage == "sqlite::memory:")
        #expect(config.socket == "/tmp/x.sock")
        #expect(config.workers == 3)
        #expect(config.jobs.isEmpty)
        let empty = try parse("")
        #expect(empty.workers == ProcessInfo.processInfo.activeProcessorCount, "default workers: one per CPU")
    }

    @Test func commandStringRunsThroughTheShell() throws {
        let config = try parse("jobs:\n  - id: a\n    command: echo hi\n    args: [x, 2]\n")
        let job = try #require(config.job("a"))
        #expect(job.function == FunctionRegistry.shell)
        #expect(job.args == [.string("echo hi"), .string("x"), .int(2)])
    }

    @Test func commandListIsAnArgv() throws {
        let config = try parse("jobs:\n  - id: a\n    command: [ls, -l]\n    args: [/tmp]\n")
        let job = try #require(config.job("a"))
        #expect(job.function == FunctionRegistry.exec)
        #expect(job.args == [.string("ls"), .string("-l"), .string("/tmp")])
    }

    @Test func functionWithArgsKwargsAndRetval() throws {
        let config = try parse(
            """
            jobs:
              - id: dep
                command: "true"
              - id: b
                title: B
                notes: some *rst*
                function: jobcontrol:exec
                dependencies: [dep]
                args: [echo, !retval dep, {nested: [1, 2.5, true, null]}]
                kwargs: {name: !retval dep, plain: text}
            """)
        let job = try #require(config.job("b"))
        #expect(job.title == "B")
        #expect(job.notes == "some *rst*")
        #expect(job.dependencies == ["dep"])
        #expect(job.args[1] == .retval("dep"))
        #expect(job.args[2] == .object(["nested": .array([.int(1), .double(2.5), .bool(true), .null])]))
        #expect(job.kwargs["name"] == .retval("dep"))
        #expect(
            job.storedJSON["args"] == .array(["echo", ["!retval": "dep"], ["nested": [1, .double(2.5), true, nil]]]))
    }

    @Test func syntaxErrorNamesLineAndColumn() {
        let found = errors("jobs:\n  - id: a\n    command: [unclosed\n")
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("test.yaml:") == true)
        #expect(found.first?.contains("YAML syntax error") == true)
    }

    @Test func unknownKeySuggestsTheClosest() {
        let found = errors("jobs:\n  - id: a\n    comand: echo\n")
        #expect(
            found.contains { $0.hasPrefix("test.yaml:3:5: unknown key 'comand' in a job; did you mean 'command'?") })
    }

    @Test func everyProblemIsReportedAtOnce() {
        let found = errors(
            """
            workers: many
            storag: 'sqlite::memory:'
            jobs:
              - id: a
                command: echo
                dependencies: [missing]
              - id: a
                command: echo
              - id: c
                function: nomodule
              - id: d
                command: echo
                function: jobcontrol:exec
              - title: no id
                command: echo
            """)
        #expect(found.contains("test.yaml:1:10: 'workers' must be an integer, found a string"))
        #expect(
            found.contains {
                $0.hasPrefix("test.yaml:2:1: unknown key 'storag'") && $0.contains("did you mean 'storage'")
            })
        #expect(found.contains { $0.contains("duplicate job id 'a'") && $0.hasPrefix("test.yaml:7:") })
        #expect(found.contains { $0.contains("'function' must be in module:function form") })
        #expect(found.contains { $0.contains("has both 'command' and 'function'") })
        #expect(found.contains { $0.contains("a job needs an 'id'") })
        #expect(found.contains { $0.contains("depends on unknown job 'missing'") })
    }

    @Test func cyclesAreReportedWithTheirPath() {
        let found = errors(
            """
            jobs:
              - {id: a, command: x, dependencies: [b]}
              - {id: b, command: x, dependencies: [c]}
              - {id: c, command: x, dependencies: [a]}
            """)
        #expect(found.count == 1)
        #expect(found.first?.contains("dependency cycle: a -> b -> c -> a") == true)
    }

    @Test func retvalOfANonDependencyIsAnError() {
        let found = errors("jobs:\n  - {id: a, command: x}\n  - {id: b, command: x, args: [!retval a]}\n")
        #expect(found.contains { $0.contains("uses '!retval a' but 'a' is not one of its dependencies") })
    }

    /// A name in the `jobcontrol` module must be registered; any other unregistered name must be
    /// a Python one (package.module:callable), which then needs an interpreter.
    @Test func unregisteredFunctionAndUnknownTag() {
        let found = errors(
            "jobs:\n  - {id: a, function: 'jobcontrol:func'}\n  - {id: b, command: x, args: [!weird 1]}\n"
                + "  - {id: c, function: 'my-pkg:run'}\n  - {id: d, function: 'pkg.mod:run', python: /no/python}\n")
        #expect(found.contains { $0.contains("function 'jobcontrol:func' is not registered") })
        #expect(found.contains { $0.contains("'my-pkg:run' is not registered in Swift, and is not a Python name") })
        #expect(found.contains { $0.contains("Python interpreter '/no/python' not found") })
        #expect(found.contains { $0.contains("unknown tag '!weird'") })
    }

    @Test func accessIsRead() throws {
        let config = try ConfigLoader.parse(
            yaml: "access: {read: ['*'], run: [group:root], admin: [user:root], socket_group: root}\n", file: "t.yaml")
        let access = try #require(config.access)
        #expect(access.read == [.everyone] && access.run == [.group("root")] && access.admin == [.user("root")])
        #expect(access.socketGroup == "root")
        // root may always do everything; so may the daemon's own user.
        #expect(access.level(of: .init(pid: 1, uid: 0, gid: 0)) == .admin)
        var none = AccessPolicy()
        none.read = [.user("root")]
        #expect(none.level(of: .init(pid: 1, uid: 65534, gid: 65534)) == (geteuid() == 65534 ? .admin : nil))
        var nobody = AccessPolicy()
        nobody.run = [.group("nogroup")]
        #expect(nobody.level(of: .init(pid: 1, uid: 65534, gid: 65534)) == .run)
    }

    @Test func scheduleKeysAreRead() throws {
        let config = try ConfigLoader.parse(
            yaml: """
                jobs:
                  - id: backup
                    command: x
                    schedule: ['Mon..Fri 02:30', {every: 15m}, '30 4 * * sun']
                    timezone: Europe/Berlin
                    persistent: true
                    catch_up: all
                    catch_up_window: 1d
                    randomized_delay: 5m
                    fixed_random_delay: true
                    concurrency: queue
                    start_deadline: 10m
                """, file: "t.yaml")
        let policy = try #require(config.jobs[0].schedule)
        #expect(policy.schedules.map(\.kind) == ["calendar", "interval", "cron"])
        #expect(policy.schedules[0].zone.name == "Europe/Berlin")
        #expect(policy.schedules[2].zone.name == "Europe/Berlin")
        #expect(policy.persistent && policy.catchUp == .all && policy.catchUpWindow == 86_400)
        #expect(policy.randomizedDelay == 300 && policy.fixedRandomDelay)
        #expect(policy.concurrency == .queue && policy.startDeadline == 600)
        // The same delay for every occurrence when fixed, within the bound.
        #expect(policy.startDelay(jobID: "backup", due: 0) == policy.startDelay(jobID: "backup", due: 3_600_000_000))
        #expect((0..<300_000_000).contains(policy.startDelay(jobID: "backup", due: 0)))
    }

    @Test func unreadableFileNamesThePath() {
        do {
            _ = try ConfigLoader.load(file: "/nonexistent/jobcontrol.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.hasPrefix("/nonexistent/jobcontrol.yaml:1:1: cannot read configuration file"))
        }
    }
}

@Suite struct ConfigIncludeTests {
    func directory(_ files: [String: String]) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("jc-include-\(UUID().uuidString)")
        for (name, text) in files {
            let url = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        return root
    }

    @Test func jobsDotDIsIncludedByDefault() throws {
        let root = try directory([
            "main.yaml": "jobs:\n  - {id: main, command: x}\n",
            "jobs.d/a.yaml": "jobs:\n  - {id: a, command: x, dependencies: [b]}\n",
            "jobs.d/b.yaml": "- {id: b, command: x, dependencies: [main]}\n",
            "jobs.d/ignored.txt": "not yaml",
        ])
        defer { try? FileManager.default.removeItem(at: root) }
        let config = try ConfigLoader.load(file: root.appendingPathComponent("main.yaml").path)
        #expect(config.jobs.map(\.id) == ["main", "a", "b"])
        #expect(config.job("a")?.location?.file.hasSuffix("jobs.d/a.yaml") == true)
    }

    /// An included file cut to nothing (or only comments) is refused, not read as no jobs: a
    /// reload would have dropped its jobs without a word (the main file had this guard already).
    @Test func anEmptyIncludedFileIsRefused() throws {
        let root = try directory([
            "main.yaml": "jobs: []\n",
            "jobs.d/crontab.yaml": "# only a comment\n\n",
            "jobs.d/none.yaml": "jobs: []\n",
        ])
        defer { try? FileManager.default.removeItem(at: root) }
        let empty = root.appendingPathComponent("jobs.d/crontab.yaml").path
        do {
            _ = try ConfigLoader.load(file: root.appendingPathComponent("main.yaml").path)
            Issue.record("expected the empty included file to be refused")
        } catch {
            let found = error.diagnostics.map(\.description)
            #expect(
                found == [
                    "\(empty):1:1: the included file is empty (cut short, or being written?); write 'jobs: []' in it if it is meant to hold no jobs"
                ], "\(found)")
        }
    }

    /// A main file cut to nothing is refused even when its included files have jobs: its access
    /// rules, secrets and pools would have gone without a word. Its emptiness is named first,
    /// before what the included files then miss. A file of comments is accepted as before.
    @Test func anEmptyMainFileIsRefusedBesideIncludedJobs() throws {
        let root = try directory([
            "main.yaml": "\n",
            "jobs.d/a.yaml": "jobs:\n  - {id: a, command: x}\n",
            "jobs.d/b.yaml": "jobs:\n  - {id: b, command: x, pool: database}\n",
        ])
        defer { try? FileManager.default.removeItem(at: root) }
        let main = root.appendingPathComponent("main.yaml").path
        do {
            _ = try ConfigLoader.load(file: main)
            Issue.record("expected the empty main file to be refused")
        } catch {
            let found = error.diagnostics.map(\.description)
            #expect(found.first?.hasPrefix("\(main):1:1: the configuration file is empty") == true, "\(found)")
        }
        try "jobs: []\npools: {database: {workers: 1}}\n".write(toFile: main, atomically: true, encoding: .utf8)
        #expect(try ConfigLoader.load(file: main).jobs.map(\.id).sorted() == ["a", "b"])
        // Comments alone are a choice, not a cut (in a CRLF file too): the jobs are in jobs.d/.
        try FileManager.default.removeItem(at: root.appendingPathComponent("jobs.d/b.yaml"))
        for text in ["# all jobs are in jobs.d\n", "# all jobs are in jobs.d\r\nworkers: 2\r\n"] {
            try text.write(toFile: main, atomically: true, encoding: .utf8)
            #expect(try ConfigLoader.load(file: main).jobs.map(\.id) == ["a"], "\(text.debugDescription)")
        }
    }

    /// An included path that cannot be read (a directory, a device) is named at the `include:`
    /// that matched it, not at a line 1 of a file that has none.
    @Test func anUnreadableIncludeIsNamedWhereItIsIncluded() throws {
        let root = try directory(["main.yaml": "include: [.., /dev/zero]\njobs: []\n"])
        defer { try? FileManager.default.removeItem(at: root) }
        let main = root.appendingPathComponent("main.yaml").path
        do {
            _ = try ConfigLoader.load(file: main)
            Issue.record("expected the includes to be refused")
        } catch {
            let found = error.diagnostics.map(\.description)
            #expect(found.count == 2 && found.allSatisfy { $0.hasPrefix("\(main):1:") }, "\(found)")
            #expect(
                found.contains { $0.contains("/dev/zero: cannot read configuration file: it is not a regular file") })
        }
    }

    @Test func explicitIncludesAndTheirErrors() throws {
        let root = try directory([
            "main.yaml": "include: [more/*.yaml, missing.yaml]\njobs:\n  - {id: main, command: x}\n",
            "more/one.yaml": "jobs:\n  - {id: main, command: x}\n  - {id: two, comand: x}\nworkers: 3\n",
            "jobs.d/not-included.yaml": "jobs:\n  - {id: z, command: x}\n",
        ])
        defer { try? FileManager.default.removeItem(at: root) }
        let main = root.appendingPathComponent("main.yaml").path
        let one = root.appendingPathComponent("more/one.yaml").path
        do {
            _ = try ConfigLoader.load(file: main)
            Issue.record("expected errors")
        } catch {
            let found = error.diagnostics.map(\.description)
            #expect(found.contains { $0.hasPrefix("\(main):1:") && $0.contains("missing.yaml does not exist") })
            #expect(
                found.contains { $0.hasPrefix("\(one):2:5: duplicate job id 'main' (first defined at \(main):3:5)") })
            #expect(found.contains { $0.hasPrefix("\(one):3:15: unknown key 'comand'") })
            #expect(found.contains { $0.hasPrefix("\(one):4:1: an included job file may hold only 'jobs'") })
            #expect(!found.contains { $0.contains("'z'") })
        }
    }

    @Test func theSampleConfigurationIncludesItsExamples() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let config = try ConfigLoader.load(file: root.appendingPathComponent("etc/jobcontrol/jobcontrol.yaml").path)
        #expect(config.job("greet") != nil)
        #expect(config.job("hello") != nil)
    }
}

@Suite struct ConfigExecutionKeyTests {
    func errors(_ yaml: String) -> [String] {
        do {
            _ = try ConfigLoader.parse(yaml: yaml, file: "t.yaml")
            return []
        } catch {
            return error.diagnostics.map(\.description)
        }
    }

    @Test func executionKeysAreTypedAndChecked() throws {
        let config = try ConfigLoader.parse(
            yaml: """
                secret: {token: abc}
                jobs:
                  - id: a
                    command: env
                    environment: {PLAIN: x, NUMBER: 3, TOKEN: !secret token}
                    working_directory: /tmp
                    user: nobody
                    group: nogroup
                    tags: [nightly, db]
                    enabled: false
                """, file: "t.yaml")
        let job = try #require(config.job("a"))
        #expect(job.environment == ["PLAIN": .string("x"), "NUMBER": .string("3"), "TOKEN": .secret("token")])
        #expect(job.workingDirectory == "/tmp" && job.user == "nobody" && job.group == "nogroup")
        #expect(job.tags == ["nightly", "db"] && !job.enabled)
        #expect(config.secrets == ["token": "abc"])
        #expect(!job.storedJSON.jsonText().contains("abc"))
    }

    @Test func badExecutionKeys() {
        let found = errors(
            """
            jobs:
              - id: a
                command: x
                environment: {1BAD: x, GOOD: [1]}
                working_directory: relative/dir
                user: no-such-user-xyz
                group: no-such-group-xyz
                enabled: maybe
                args: [!secret missing]
            """)
        #expect(found.contains { $0.hasPrefix("t.yaml:4:19: environment variable name '1BAD'") })
        #expect(found.contains { $0.contains("environment variable GOOD must be a string, !secret or !param") })
        #expect(found.contains { $0.hasPrefix("t.yaml:5:24: 'working_directory' must be an absolute path") })
        #expect(found.contains { $0.hasPrefix("t.yaml:6:11: user 'no-such-user-xyz' does not exist") })
        #expect(found.contains { $0.hasPrefix("t.yaml:7:12: group 'no-such-group-xyz' does not exist") })
        #expect(found.contains { $0.hasPrefix("t.yaml:8:14: 'enabled' must be true or false") })
    }

    @Test func unknownSecretIsAConfigError() {
        let found = errors("secret: {known: v}\njobs:\n  - {id: a, command: x, kwargs: {k: !secret unknown}}\n")
        #expect(found.contains { $0.contains("uses '!secret unknown' but no secret 'unknown' is defined") })
    }

    @Test func secretsFileMustBePrivate() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jc-secrets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let secrets = directory.appendingPathComponent("secrets.yaml").path
        try "db_password: hunter2\n".write(toFile: secrets, atomically: true, encoding: .utf8)
        let main = directory.appendingPathComponent("main.yaml").path
        try "secrets_file: secrets.yaml\njobs:\n  - {id: a, command: x, args: [!secret db_password]}\n".write(
            toFile: main, atomically: true, encoding: .utf8)
        chmod(secrets, 0o644)
        #expect(throws: ConfigError.self) { try ConfigLoader.load(file: main) }
        do {
            _ = try ConfigLoader.load(file: main)
        } catch {
            #expect(error.description.contains("chmod 600 \(secrets)"))
        }
        chmod(secrets, 0o600)
        #expect(try ConfigLoader.load(file: main).secrets == ["db_password": "hunter2"])
    }
}
