import Foundation
import JobControl
import Testing

/// The real binaries over a real socket: what a user does, checked against what storage holds.
@Suite struct DaemonProcessTests {
    static let config = """
        workers: 2
        jobs:
          - id: hello
            title: Say hello
            command: echo "hello $1"; echo "careful" >&2
            args: [world]
          - id: fails
            command: echo "about to fail"; echo "disk full" >&2; exit 3
          - id: unspawnable
            command: [/nonexistent/binary, --flag]
          - id: needs-hello
            dependencies: [hello]
            command: [echo, dependent]
        """

    @Test func runWaitSucceedsAndStoresBuildAndLogRows() async throws {
        let daemon = try await DaemonProcess(config: Self.config)
        let run = try await daemon.jobctl("run", "hello", "--wait")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("SUCCESSFUL"))

        let json = try await daemon.jobctl("--json", "builds", "hello")
        #expect(json.status == 0)
        let builds = try JSONValue.parse(json.stdout)
        guard case .array(let list) = builds, let first = list.first else {
            Issue.record("expected a list of builds: \(json.stdout)")
            return
        }
        for key in [
            "id", "job_id", "started", "finished", "success", "skipped", "start_time", "end_time", "retval",
            "exception",
        ] {
            #expect(first[key] != nil, "build JSON lacks \(key)")
        }
        let id = try #require(first["id"]?.intValue)

        let logs = try await daemon.jobctl("logs", String(id))
        #expect(logs.status == 0)
        #expect(logs.stdout.contains("INFO     stdout: hello world"))
        #expect(logs.stdout.contains("WARNING  stderr: careful"))

        #expect(try await daemon.stop() == 0)
        // What the daemon stored, read straight from the database file.
        let storage = try StorageFactory.open(url: "sqlite://" + daemon.database)
        let build = try #require(try storage.getBuild(id))
        #expect(build.jobID == "hello")
        #expect(build.state == .successful)
        #expect(build.config["job"]?["title"] == "Say hello")
        let records = try storage.iterLogMessages(LogQuery(buildID: id))
        #expect(records.contains { $0.message == "hello world" && $0.level == LogLevel.info.rawValue })
        #expect(records.contains { $0.message == "careful" && $0.level == LogLevel.warning.rawValue })
    }

    /// 60,000 records are more than one 8 MiB message: jobctl pages through them.
    @Test func aLongLogIsPrintedWhole() async throws {
        let daemon = try await DaemonProcess(config: "jobs:\n  - {id: long, command: 'seq 1 60000'}\n")
        let run = try await daemon.jobctl("run", "long", "--wait")
        #expect(run.status == 0, "\(run.stderr)")
        let logs = try await daemon.jobctl("logs", "1")
        #expect(logs.status == 0, "\(logs.stderr)")
        let lines = logs.stdout.split(separator: "\n")
        #expect(lines.filter { $0.hasSuffix(": 60000") }.count == 1)
        #expect(lines.count >= 60_000, "\(lines.count) lines")
        let json = try await daemon.jobctl("--json", "logs", "1")
        #expect(json.status == 0 && json.stdout.contains("\"59999\""), "\(json.stderr)")
        try await daemon.stop()
    }

    @Test func failingAndUnspawnableBuildsAreRecordedAndTheDaemonKeepsRunning() async throws {
        let daemon = try await DaemonProcess(config: Self.config)
        let failed = try await daemon.jobctl("--json", "run", "fails", "--wait")
        #expect(failed.status == 1)
        let build = try JSONValue.parse(failed.stdout)
        #expect(build["success"] == false)
        #expect(build["exception"]?["type"] == "CommandFailed")
        #expect(build["exception"]?["exit_status"] == 3)

        let unspawnable = try await daemon.jobctl("run", "unspawnable", "--wait")
        #expect(unspawnable.status == 1)
        #expect(unspawnable.stdout.contains("cannot start '/nonexistent/binary'"))

        let status = try await daemon.jobctl("status")
        #expect(status.status == 0)
        #expect(status.stdout.contains("jobs: 4"))
        #expect(try await daemon.stop() == 0)
    }

    @Test func unknownJobUnknownBuildAndMissingDependencyAreClearErrors() async throws {
        let daemon = try await DaemonProcess(config: Self.config)
        let unknown = try await daemon.jobctl("run", "nope")
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no job with id 'nope'"))

        let noBuild = try await daemon.jobctl("build", "4242")
        #expect(noBuild.status == 1)
        #expect(noBuild.stderr.contains("no build with id 4242"))

        let missing = try await daemon.jobctl("run", "needs-hello")
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("depends on 'hello', which has no successful build"))
        #expect(try await daemon.stop() == 0)
    }

    @Test func malformedConfigExitsWithEXConfigAndNamesTheLine() async throws {
        let directory = try TemporaryDirectory()
        try directory.write(
            "bad.yaml", "workers: 2\njobs:\n  - id: a\n    comand: echo\n  - id: b\n    command: [unclosed\n")
        let result = try await runProcess(
            Binaries.jobcontrold,
            [
                "--config", directory.file("bad.yaml"), "--socket", directory.file("s.sock"), "--storage",
                "sqlite::memory:",
            ])
        #expect(result.status == 78)
        #expect(result.stderr.contains(directory.file("bad.yaml") + ":"))
        #expect(result.stderr.contains("YAML syntax error"))
        #expect(!FileManager.default.fileExists(atPath: directory.file("s.sock")))

        let typo = try await runProcess(
            Binaries.jobcontrold, ["--config", directory.file("missing.yaml"), "--storage", "sqlite::memory:"])
        #expect(typo.status == 78)
        #expect(typo.stderr.contains("cannot read configuration file"))
    }

    /// `--socket s.sock` names a socket in the daemon's working directory (it once failed with
    /// "cannot create directory : No such file or directory"), and builds are given its absolute
    /// path: an in-build helper running elsewhere still reaches the daemon.
    @Test func aRelativeSocketIsInTheWorkingDirectory() async throws {
        let directory = try TemporaryDirectory()
        try directory.write("jobcontrol.yaml", "jobs:\n  - {id: a, command: 'jobctl retval 7', working_directory: /}\n")
        let daemon = try await DaemonProcess(directory: directory, relativeSocket: true)
        let run = try await daemon.jobctl("run", "a", "--wait")
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)\(daemon.log)")
        let build = try await daemon.jobctl("build", "1", "--json")
        #expect(build.stdout.contains(#""retval" : "7""#), "\(build.stdout)")
        #expect(try await daemon.stop() == 0)
    }

    @Test func jobctlWithoutADaemonSaysWhatToDo() async throws {
        let directory = try TemporaryDirectory()
        let result = try await runProcess(Binaries.jobctl, ["--socket", directory.file("none.sock"), "status"])
        #expect(result.status == 69)
        #expect(result.stderr.contains("Is the daemon running?"))
    }

    @Test func aSecondDaemonOnTheSameSocketRefusesToStart() async throws {
        let daemon = try await DaemonProcess(config: Self.config)
        let second = try await runProcess(
            Binaries.jobcontrold,
            [
                "--config", daemon.directory.file("jobcontrol.yaml"), "--socket", daemon.socket, "--storage",
                "sqlite::memory:",
            ])
        #expect(second.status == 71)
        #expect(second.stderr.contains("another jobcontrold is listening"))
        #expect(try await daemon.jobctl("status").status == 0)
        #expect(try await daemon.stop() == 0)
    }

    @Test func socketIsCreatedWithMode0660() async throws {
        let daemon = try await DaemonProcess(config: Self.config)
        let attributes = try FileManager.default.attributesOfItem(atPath: daemon.socket)
        #expect((attributes[.posixPermissions] as? Int) == 0o660)
        try await daemon.stop()
    }

    /// The daemon's main thread (parked by Dispatch in sigsuspend) is not woken by each of its
    /// builds' exits: the kernel drops their SIGCHLD where the spawning thread no longer blocks
    /// it (issue 19; it woke about once per build before). Counted by the kernel: the thread's
    /// voluntary context switches over 121 builds (a thread's first spawn still blocks it).
    @Test func buildsDoNotWakeTheMainThread() async throws {
        let dependencies = (0..<120).map { "t\($0)" }
        var yaml = "jobs:\n"
        for name in dependencies { yaml += "  - {id: \(name), command: [/bin/true]}\n" }
        yaml += "  - id: all\n    command: [/bin/true]\n    dependencies: [\(dependencies.joined(separator: ", "))]\n"
        let daemon = try await DaemonProcess(config: yaml)
        let pid = daemon.process.processIdentifier
        func mainThreadWakeUps() throws -> Int {
            let status = try String(contentsOfFile: "/proc/\(pid)/task/\(pid)/status", encoding: .utf8)
            let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("voluntary_ctxt_switches:") })
            return try #require(Int(line.split(separator: "\t").last ?? ""))
        }
        let before = try mainThreadWakeUps()
        let run = try await daemon.jobctl("run", "all", "--build-deps", "--wait")
        #expect(run.status == 0, "\(run.stderr)")
        let woken = try mainThreadWakeUps() - before
        #expect(woken < 30, "the main thread woke \(woken) times for 121 builds")
        try await daemon.stop()
    }
}

extension DaemonProcessTests {
    /// `run --build-deps --wait` whose dependency fails: the job's own build is recorded as not
    /// run, and jobctl says so, not that it is queued and waited for.
    @Test func aTargetThatWasNotRunIsNotAnnouncedAsWaiting() async throws {
        let daemon = try await DaemonProcess(
            config: "jobs:\n  - {id: bad, command: 'exit 3'}\n  - {id: top, command: 'true', dependencies: [bad]}\n")
        let run = try await daemon.jobctl("run", "top", "--build-deps", "--wait")
        #expect(run.status == 1)
        #expect(!run.stdout.contains("queued; waiting"), "\(run.stdout)")
        #expect(run.stderr.contains("'top' was not run"), "\(run.stderr)")
        try await daemon.stop()
    }

    /// What the daemon inherits from whatever starts it does not break its builds: an ignored
    /// SIGCHLD (it survives exec, and made the kernel reap every command before its exit status
    /// was read: every build failed) and closed standard descriptors (which the daemon's own
    /// files would have taken).
    @Test func anIgnoredSIGCHLDAndClosedStandardDescriptorsAreRepairedAtStart() async throws {
        let directory = try TemporaryDirectory()
        try directory.write("jobcontrol.yaml", Self.config)
        let wrapper = directory.file("start")
        // Python, not sh: dash resets an ignored SIGCHLD when it execs.
        try directory.write(
            "start",
            """
            #!/usr/bin/python3
            import os, signal, sys
            signal.signal(signal.SIGCHLD, signal.SIG_IGN)
            os.close(0)
            os.close(1)
            os.execv("\(Binaries.jobcontrold)", ["jobcontrold"] + sys.argv[1:])

            """)
        chmod(wrapper, 0o755)
        let daemon = try await DaemonProcess(directory: directory, executable: wrapper)
        let pid = daemon.process.processIdentifier
        for descriptor in 0...1 {
            let target = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(descriptor)")
            #expect(target == "/dev/null", "descriptor \(descriptor) is \(target)")
        }
        for _ in 0..<3 {
            let run = try await daemon.jobctl("run", "hello", "--wait")
            #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        }
        try await daemon.stop()
    }
}

/// SIGTERM: no new builds, running ones get stop_timeout, then are cancelled and recorded.
@Suite struct GracefulStopTests {
    /// A daemon a test drops without stopping it (the test failed first) takes its builds with
    /// it: their processes do not outlive the test.
    @Test func aDroppedDaemonLeavesNoBuildRunning() async throws {
        let marker = "3\(Int.random(in: 100_000...999_999))"
        var daemon: DaemonProcess? = try await DaemonProcess(
            config: "jobs:\n  - {id: long, command: 'sleep \(marker)'}\n")
        #expect(try await daemon?.jobctl("run", "long").status == 0)
        try await waitFor("the build's command") { !ExecutionProcesses.matching(marker).isEmpty }
        guard let pid = daemon?.process.processIdentifier, DaemonProcess.buildCgroup(of: pid) != nil else {
            print("aDroppedDaemonLeavesNoBuildRunning: the daemon has no build cgroups here; nothing checked")
            try await daemon?.stop()
            return
        }
        daemon = nil
        try await waitFor("the build's command to end") { ExecutionProcesses.matching(marker).isEmpty }
    }

    /// (`stop_timeout: 5s`, not 1 s: `short` ends within it even in a daemon the other suites
    /// starve of CPU for a while.)
    @Test func sigtermWaitsForShortBuildsAndCancelsLongOnes() async throws {
        let marker = "161.\(Int.random(in: 100_000...999_999))"
        let daemon = try await DaemonProcess(
            config: """
                stop_timeout: 5s
                jobs:
                  - {id: short, command: 'sleep 0.3; echo done'}
                  - {id: long, command: "trap '' TERM; sleep \(marker)"}
                """)
        let short = try JSONValue.parse(try await daemon.jobctl("--json", "run", "short").stdout)["id"]?.intValue
        let long = try JSONValue.parse(try await daemon.jobctl("--json", "run", "long").stdout)["id"]?.intValue
        try await waitFor("the long build to start") {
            (try? await JSONValue.parse(daemon.jobctl("--json", "build", "\(long ?? 0)").stdout)["state"]) == "RUNNING"
        }
        #expect(try await daemon.stop() == 0)
        let storage = try StorageFactory.open(url: "sqlite://" + daemon.database)
        let shortID = try #require(short)
        let longID = try #require(long)
        #expect(try storage.getBuild(shortID)?.state == .successful)
        let cancelled = try #require(try storage.getBuild(longID))
        #expect(cancelled.state == .failed)
        #expect(cancelled.exception?["by"] == "shutdown")
        #expect(ExecutionProcesses.matching(marker).isEmpty)
    }

    /// While it stops, the daemon keeps serving its builds' helpers (a build that ends within
    /// `stop_timeout` reports its return value as always), refuses new builds and reloads, and starts no
    /// build that waits for a worker: that one stays queued, and the next start runs it.
    @Test func duringAStopBuildsStillReportAndWaitingOnesStayQueued() async throws {
        let directory = try TemporaryDirectory()
        let go = directory.file("go")
        try directory.write(
            "jobcontrol.yaml",
            """
            workers: 1
            stop_timeout: 30s
            jobs:
              - {id: slow, command: 'while [ ! -e \(go) ]; do sleep 0.05; done; jobctl retval told'}
              - {id: waiting, command: 'echo ran'}
            """)
        let daemon = try await DaemonProcess(directory: directory)
        let slow = try #require(
            try JSONValue.parse(try await daemon.jobctl("--json", "run", "slow").stdout)["id"]?.intValue)
        let waiting = try #require(
            try JSONValue.parse(try await daemon.jobctl("--json", "run", "waiting").stdout)["id"]?.intValue)
        try await waitFor("the slow build to start") {
            (try? await JSONValue.parse(daemon.jobctl("--json", "build", "\(slow)").stdout)["state"]) == "RUNNING"
        }
        daemon.process.terminate()
        try await waitFor("the daemon to begin stopping") { daemon.log.contains("jobcontrold stopping") }
        let refused = try await daemon.jobctl("run", "waiting")
        #expect(refused.status != 0 && refused.stderr.contains("stopping"), "\(refused)")
        // Nor does it reload: a reload's READY=1 would tell systemd the stopping service was up.
        let reload = try await daemon.jobctl("reload")
        #expect(reload.status == 1 && reload.stderr.contains("stopping"), "\(reload)")
        _ = FileManager.default.createFile(atPath: go, contents: nil)
        #expect(try await daemon.stop() == 0)
        let storage = try StorageFactory.open(url: "sqlite://" + daemon.database)
        let ended = try #require(try storage.getBuild(slow))
        #expect(ended.state == .successful && ended.retval == "told", "\(ended)")
        #expect(try storage.getBuild(waiting)?.started == false)
        // The next start runs it.
        let again = try await DaemonProcess(directory: directory)
        try await waitFor("the queued build to run after the restart") {
            (try? await JSONValue.parse(again.jobctl("--json", "build", "\(waiting)").stdout)["state"]) == "SUCCESSFUL"
        }
        try await again.stop()
    }
}

enum ExecutionProcesses {
    /// Live processes whose command line contains `marker`.
    static func matching(_ marker: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { $0.allSatisfy(\.isNumber) }.compactMap { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            let command = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            return command.contains(marker) ? "\(pid): \(command)" : nil
        }
    }
}
