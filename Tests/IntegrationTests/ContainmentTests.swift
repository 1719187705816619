import Foundation
import JobControl
import Testing

/// Builds are contained (issue 16), against the real binaries: what a command leaves running is
/// stopped when its build ends (also on cancel, timeout and after a daemon crash) unless the job
/// keeps it; limits hold; what a build used is recorded.
///
/// The commands write the PIDs of what they leave behind to files: the oracle of what must be gone.
@Suite(.serialized) struct ContainmentTests {
    static let config = """
        workers: 4
        jobs:
          - id: background
            command: 'sleep 300 & echo $! > "$PIDS/background"; echo started'
          - id: double-fork
            command: 'sh -c ''sleep 300 & echo $! > "$PIDS/double-fork"'' & wait'
          - id: setsid
            command: 'setsid sh -c ''echo $$ > "$PIDS/setsid"; exec sleep 300'' & while [ ! -s "$PIDS/setsid" ]; do sleep 0.01; done'
          - id: keep
            command: 'sleep 300 > /dev/null 2>&1 & echo $! > "$PIDS/keep"'
            leftovers: keep
          - id: hang
            command: 'sleep 300 & echo $! > "$PIDS/hang-bg"; setsid sh -c ''echo $$ > "$PIDS/hang-setsid"; exec sleep 300'' & wait'
          - id: hang-timeout
            command: 'setsid sh -c ''echo $$ > "$PIDS/timeout-setsid"; exec sleep 300'' & wait'
            timeout: 2s
          - id: late-orphan
            # A session leader that starts another: the inner one is the daemon's only once the
            # outer one has been stopped.
            command: |
              setsid sh -c 'setsid sh -c "echo \\$\\$ > \\"\\$PIDS/late-orphan\\"; exec sleep 300" & exec sleep 300' &
              while [ ! -s "$PIDS/late-orphan" ]; do sleep 0.01; done
          - id: keep-cancelled
            command: 'echo $$ > "$PIDS/keep-cancelled"; exec sleep 300'
            leftovers: keep
        """

    /// A process is gone when it no longer exists or is a zombie (its new parent, init, may not
    /// reap it at once; in this sandbox PID 1 does not).
    static func isGone(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let closing = stat.lastIndex(of: ")")
        else { return true }
        return stat[stat.index(closing, offsetBy: 2)] == "Z"
    }

    /// Whether the PID file `name` is whole: `echo $$ > FILE` creates it before it writes.
    static func pidWritten(_ name: String, _ directory: TemporaryDirectory) -> Bool {
        FileManager.default.contents(atPath: directory.file("pids/" + name))?.last == 0x0A
    }

    static func pid(in file: String) throws -> pid_t {
        let text = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return try #require(pid_t(text), "no pid in \(file): '\(text)'")
    }

    /// The leftover named `name` (its PID file) is gone within the grace period (5 s) and a margin.
    static func expectGone(_ name: String, _ directory: TemporaryDirectory) async throws {
        let pid = try pid(in: directory.file("pids/" + name))
        try await waitFor("\(name) leftover \(pid) to be stopped", timeout: .seconds(8)) { isGone(pid) }
    }

    @Test func leftoversAreStoppedWhenTheBuildEnds() async throws {
        let side = try Self.pidDirectory()
        defer { Self.killLeftovers(side) }
        let daemon = try await DaemonProcess(config: Self.config, environment: ["PIDS": side.file("pids")])
        for job in ["background", "double-fork", "setsid"] {
            let run = try await daemon.jobctl("run", job, "--wait")
            #expect(run.status == 0, "\(job): \(run.stdout) \(run.stderr)")
            try await Self.expectGone(job, side)
        }
        // leftovers: keep leaves its process running after the build succeeded, and says so.
        #expect(try await daemon.jobctl("run", "keep", "--wait").status == 0)
        let kept = try Self.pid(in: side.file("pids/keep"))
        try await Task.sleep(for: .milliseconds(300))  // a kill, had one been sent, would have landed
        #expect(!Self.isGone(kept), "leftovers: keep stopped the process")
        let show = try await daemon.jobctl("show", "keep")
        #expect(show.stdout.contains("Leftovers:"), "\(show.stdout)")
        let builds = try StorageFactory.open(url: "sqlite://" + daemon.database)
        let keptBuild = try #require(
            try builds.getJobBuilds(jobID: "keep", filter: BuildFilter(), order: .descending, limit: 1).first)
        let logs = try builds.iterLogMessages(LogQuery(buildID: keptBuild.id)).map(\.message)
        #expect(logs.contains { $0.contains("left running in") }, "\(logs)")
        Glibc.kill(kept, SIGKILL)
        try await daemon.stop()
    }

    @Test func cancelAndTimeoutStopEveryProcessOfTheBuild() async throws {
        let side = try Self.pidDirectory()
        defer { Self.killLeftovers(side) }
        let daemon = try await DaemonProcess(config: Self.config, environment: ["PIDS": side.file("pids")])
        let started = try await daemon.jobctl("run", "hang")
        #expect(started.status == 0)
        try await waitFor("the hang build's processes") {
            Self.pidWritten("hang-setsid", side) && Self.pidWritten("hang-bg", side)
        }
        let id = try #require(started.stdout.split(separator: " ").dropFirst().first.map(String.init))
        #expect(try await daemon.jobctl("cancel", id).status == 0)
        try await Self.expectGone("hang-bg", side)
        try await Self.expectGone("hang-setsid", side)

        let timedOut = try await daemon.jobctl("run", "hang-timeout", "--wait")
        #expect(timedOut.status == 1)
        #expect(timedOut.stdout.contains("timed out"), "\(timedOut.stdout)")
        try await Self.expectGone("timeout-setsid", side)
        try await daemon.stop()
    }

    /// SIGKILL of the daemon leaves the build's processes running (one escaped its process
    /// group with setsid); the next daemon finds them through the build's cgroup and stops them.
    @Test(.enabled(if: CgroupHost.probe.usable)) func crashRecoveryStopsLeftoversThroughTheCgroup() async throws {
        let side = try Self.pidDirectory()
        defer { Self.killLeftovers(side) }
        var daemon = try await DaemonProcess(config: Self.config, environment: ["PIDS": side.file("pids")])
        #expect(try await daemon.jobctl("run", "hang").status == 0)
        try await waitFor("the hang build's processes") {
            Self.pidWritten("hang-setsid", side) && Self.pidWritten("hang-bg", side)
        }
        let storage = try StorageFactory.open(url: "sqlite://" + daemon.database)
        try await waitFor("the build's cgroup to be recorded") {
            ((try? storage.unfinishedBuilds()) ?? []).contains { $0.cgroup != nil }
        }
        let cgroup = try #require(try storage.unfinishedBuilds().first { $0.cgroup != nil }?.cgroup)
        daemon.kill()
        let escaped = try Self.pid(in: side.file("pids/hang-setsid"))
        #expect(!Self.isGone(escaped), "the setsid process outlives the daemon")
        daemon = try await DaemonProcess(directory: daemon.directory, environment: ["PIDS": side.file("pids")])
        try await Self.expectGone("hang-setsid", side)
        try await Self.expectGone("hang-bg", side)
        try await waitFor("the build's cgroup to be removed") {
            cgroup.allSatisfy { !FileManager.default.fileExists(atPath: $0) }
        }
        try await daemon.stop()
    }

    /// Without cgroups (`containment: process-group`, as on a host that gives the daemon none):
    /// the process group and the child subreaper still stop a background child, a double fork
    /// and a setsid child; the daemon says once how it contains builds.
    @Test func withoutCgroupsProcessGroupsAndTheSubreaperStopLeftovers() async throws {
        let side = try Self.pidDirectory()
        defer { Self.killLeftovers(side) }
        let daemon = try await DaemonProcess(
            config: "containment: process-group\n" + Self.config, environment: ["PIDS": side.file("pids")])
        for job in ["background", "double-fork", "setsid"] {
            let run = try await daemon.jobctl("run", job, "--wait")
            #expect(run.status == 0, "\(job): \(run.stdout) \(run.stderr)")
            try await Self.expectGone(job, side)
        }
        // An orphan reparented to the daemon only while its build's leftovers are being stopped.
        let run = try await daemon.jobctl("run", "late-orphan", "--wait")
        #expect(run.status == 0, "\(run.stdout) \(run.stderr)")
        try await Self.expectGone("late-orphan", side)
        #expect(daemon.log.contains("contained by process group only"), "\(daemon.log)")
        try await daemon.stop()
    }

    /// A cancelled build that keeps its leftovers gets SIGTERM to its process group, and SIGKILL
    /// after the grace period only if the group is still there: once it is empty, its number
    /// may lead another process's group, which must not be killed. The test hands that number
    /// to an impostor (through ns_last_pid) two seconds into the grace period, as a busy host
    /// handing out PIDs in turn may, and watches it outlive the grace period (it was killed at
    /// its end). The daemon looks at the group every 50 ms: a number taken again within one
    /// look would still be hit, which takes a wrap of the whole PID space in that time.
    @Test(.enabled(if: access("/proc/sys/kernel/ns_last_pid", W_OK) == 0))
    func aKeptGroupsNumberReusedAfterACancelIsNotKilled() async throws {
        let side = try Self.pidDirectory()
        defer { Self.killLeftovers(side) }
        let daemon = try await DaemonProcess(config: Self.config, environment: ["PIDS": side.file("pids")])
        let started = try await daemon.jobctl("run", "keep-cancelled")
        let id = try #require(started.stdout.split(separator: " ").dropFirst().first.map(String.init))
        try await waitFor("the command's pid") {
            FileManager.default.contents(atPath: side.file("pids/keep-cancelled"))?.last == 0x0A
        }
        let group = try Self.pid(in: side.file("pids/keep-cancelled"))
        let cancelled = ContinuousClock.now
        #expect(try await daemon.jobctl("cancel", id).status == 0)
        try await waitFor("the group to empty") { Glibc.kill(-group, 0) != 0 && Self.isGone(group) }
        // Not a wait for an event: the impostor comes later in the grace period, on purpose.
        try await Task.sleep(until: cancelled + .seconds(2))
        // The impostor: a session (and group) leader with the group's old number. Other
        // processes fork meanwhile, so it may take a few tries.
        let impostor = """
            import os, sys, time
            target = int(sys.argv[1])
            for attempt in range(5000):
                with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                    f.write(str(target - 1))
                pid = os.fork()
                if pid == 0:
                    os.setsid()
                    null = os.open("/dev/null", os.O_RDWR)
                    for descriptor in (0, 1, 2):
                        os.dup2(null, descriptor)
                    time.sleep(60)
                    os._exit(0)
                if pid == target:
                    open(sys.argv[2], "w").write(str(pid) + "\\n")
                    sys.exit(0)
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            sys.exit(1)
            """
        let made = try await runProcess(
            "/usr/bin/python3", ["-c", impostor, String(group), side.file("pids/impostor")])
        // Every other process that forks between the write and the fork takes the number first;
        // with the whole suite running beside it (CI), 200 tries once all lost. Without an
        // impostor there is nothing to check: the test says so, rather than fail or pretend.
        guard made.status == 0 else {
            print(
                "aKeptGroupsNumberReusedAfterACancelIsNotKilled: no process got number \(group) in 5000 tries; nothing checked"
            )
            try await daemon.stop()
            return
        }
        // Past the grace period (5 s from the cancel) and a margin: the impostor lives on.
        while ContinuousClock.now < cancelled + .seconds(6) {
            #expect(!Self.isGone(group), "the impostor with the kept group's old number was killed")
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(!Self.isGone(group), "the impostor with the kept group's old number was killed")
        try await daemon.stop()
    }

    /// A directory with `pids/`, where the jobs write the PIDs of what they leave behind.
    static func pidDirectory() throws -> TemporaryDirectory {
        let side = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: side.file("pids"), withIntermediateDirectories: true)
        return side
    }

    /// Kills whatever the PID files name that still runs (the test's own cleanup).
    static func killLeftovers(_ side: TemporaryDirectory) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: side.file("pids"))) ?? [] {
            kill(name, side)
        }
    }

    /// SIGKILL to the process named in pids/NAME if it still runs: the one that wrote the file,
    /// not a later one that took its freed number (``SeenProcess``).
    static func kill(_ name: String, _ directory: TemporaryDirectory) {
        let file = directory.file("pids/" + name)
        if let pid = try? pid(in: file), let process = SeenProcess(pid: pid, wroteItTo: file) { process.kill() }
    }
}
