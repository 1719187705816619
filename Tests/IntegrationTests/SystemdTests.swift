import Foundation
import Glibc
import JobControl
import JobControlSystemd
import Synchronization
import Testing

/// A service manager's side of sd_notify: a datagram socket the daemon writes to.
final class NotifyListener {
    let path: String
    private let fd: Int32
    private(set) var messages: [[String]] = []

    init(directory: TemporaryDirectory) throws {
        path = directory.file("notify.sock")
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else { throw TestFailure("bind: errno \(errno)") }
    }

    deinit { close(fd) }

    /// Reads what has arrived within `wait` (a bounded poll, not a sleep), keeping every message.
    func collect(wait: Int32 = 100) {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while poll(&poller, 1, wait) > 0 {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { break }
            messages.append(String(decoding: buffer[..<count], as: UTF8.self).split(separator: "\n").map(String.init))
        }
    }

    /// Waits until `condition` holds for the messages so far, up to `timeout`, without holding a
    /// cooperative thread meanwhile (there are two, for every suite running).
    func waitUntil(_ what: String, timeout: Duration = .seconds(20), _ condition: ([[String]]) -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition(messages) {
            guard ContinuousClock.now < deadline else {
                throw TestFailure("timed out waiting for \(what); got \(messages)")
            }
            collect(wait: 0)
            if !condition(messages) { try await Task.sleep(for: .milliseconds(20)) }
        }
    }

    func count(_ line: String) -> Int { messages.filter { $0.contains(line) }.count }
}

@Suite struct SystemdTests {
    @Test func notifySequenceAndWatchdogPings() async throws {
        let directory = try TemporaryDirectory()
        let listener = try NotifyListener(directory: directory)
        let daemon = try await DaemonProcess(
            config:
                "jobs:\n  - {id: a, command: 'true'}\n  - {id: environment, command: env}\n  - {id: pause, command: 'sleep 1'}\n",
            environment: ["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "300000"])
        try await listener.waitUntil("READY=1") { $0.contains { $0.contains("READY=1") } }
        // READY=1 came only once the socket answered: DaemonProcess had connected before.
        #expect(listener.messages.first?.contains("READY=1") == true)
        #expect(listener.messages.first?.contains { $0.hasPrefix("STATUS=3 jobs") } == true)
        // Pings at half of WATCHDOG_USEC: at least three in a bounded wait.
        try await listener.waitUntil("three WATCHDOG=1") { $0.filter { $0.contains("WATCHDOG=1") }.count >= 3 }

        kill(daemon.process.processIdentifier, SIGHUP)
        try await listener.waitUntil("RELOADING=1 then READY=1") { messages in
            guard let reloading = messages.firstIndex(where: { $0.contains("RELOADING=1") }) else { return false }
            return messages[reloading...].dropFirst().contains { $0.contains("READY=1") }
        }
        let reloading = try #require(listener.messages.first { $0.contains("RELOADING=1") })
        #expect(reloading.contains { $0.hasPrefix("MONOTONIC_USEC=") })

        // What the service manager gave the daemon is not passed on to builds: a build's
        // sd_notify-aware tool must not take itself for the service.
        #expect(try await daemon.jobctl("run", "environment", "--wait").status == 0)
        let environment = try await daemon.jobctl("logs", "1").stdout
        #expect(environment.contains("PATH="), "\(environment)")
        for name in ["NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID="] {
            #expect(!environment.contains(name), "a build inherited \(name)")
        }

        // SIGTERM during a reload (it waits half a second for the files to settle after
        // RELOADING=1) while a build runs (the stop waits for it, and the reload ends meanwhile):
        // nothing says READY=1 after STOPPING=1.
        #expect(try await daemon.jobctl("run", "pause").status == 0)
        kill(daemon.process.processIdentifier, SIGHUP)
        try await listener.waitUntil("a second RELOADING=1") { $0.filter { $0.contains("RELOADING=1") }.count == 2 }
        #expect(try await daemon.stop() == 0)
        listener.collect()
        #expect(listener.count("STOPPING=1") == 1)
        let stopping = try #require(listener.messages.firstIndex { $0.contains("STOPPING=1") })
        #expect(!listener.messages[stopping...].contains { $0.contains("READY=1") }, "\(listener.messages)")
    }

    /// READY=1 never follows STOPPING=1, however a reload's READY=1 and a stop's STOPPING=1
    /// interleave. The check of "stopping" and the send were apart, and a CI run saw a reload's
    /// READY=1 after STOPPING=1; here a READY=1 lingers (as a preempted thread would) between
    /// being decided and going out, which made it happen in every round.
    @Test func readyNeverFollowsStopping() async throws {
        for _ in 0..<20 {
            let received = Mutex<[String]>([])
            let notifier = Notifier { message in
                if message.hasPrefix("READY=1") { usleep(2_000) }
                received.withLock { $0.append(message) }
                return true
            }
            let readies = Thread {
                for _ in 0..<5 { notifier.ready(status: "reloaded") }
            }
            readies.start()
            usleep(3_000)
            notifier.stopping(status: "stopping")
            while !readies.isFinished { usleep(1_000) }
            notifier.ready(status: "reloaded late")
            let messages = received.withLock { $0 }
            let stopping = try #require(messages.firstIndex { $0.hasPrefix("STOPPING=1") })
            #expect(!messages[stopping...].contains { $0.hasPrefix("READY=1") }, "\(messages)")
            #expect(messages.last?.hasPrefix("STOPPING=1") == true, "\(messages)")
        }
    }

    /// Once stopping, a reload is refused before it says RELOADING=1, and neither a reload that
    /// was under way nor the periodic status line overwrites the stop's status.
    @Test func aStoppingDaemonNeitherReloadsNorRestatesItself() {
        let received = Mutex<[String]>([])
        let notifier = Notifier { message in
            received.withLock { $0.append(message) }
            return true
        }
        #expect(notifier.reloading(monotonicMicroseconds: 1))
        notifier.ready(status: "3 jobs; last reload ok")
        notifier.status("3 jobs")
        notifier.stopping(status: "stopping")
        #expect(!notifier.reloading(monotonicMicroseconds: 2))
        notifier.ready(status: "3 jobs; last reload ok")
        notifier.status("3 jobs")
        #expect(
            received.withLock { $0 } == [
                "RELOADING=1\nMONOTONIC_USEC=1", "READY=1\nSTATUS=3 jobs; last reload ok", "STATUS=3 jobs",
                "STOPPING=1\nSTATUS=stopping",
            ])
    }

    @Test func theUnitsVerifyWithoutAWord() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let directory = try TemporaryDirectory()
        for unit in ["jobcontrold.service", "jobcontrold.socket"] {
            let text = try String(contentsOf: root.appendingPathComponent("systemd/\(unit)"), encoding: .utf8)
            try directory.write(
                unit, text.replacingOccurrences(of: "/usr/local/bin/jobcontrold", with: Binaries.jobcontrold))
        }
        // As root, systemd-analyze writes under /run/systemd: give it a private tmpfs.
        let script =
            "mount -t tmpfs tmpfs /run/systemd 2>/dev/null; exec systemd-analyze verify '\(directory.file("jobcontrold.service"))' '\(directory.file("jobcontrold.socket"))'"
        let result = try await runProcess(
            "/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", script])
        #expect(result.status == 0)
        #expect(
            result.stdout.isEmpty && result.stderr.isEmpty, "systemd-analyze said: \(result.stdout)\(result.stderr)")
    }
}

/// Build output and the daemon's own messages in a private journald, with the fields an
/// administrator filters on.
@Suite struct JournalTests {
    /// The start of a script run in a private mount namespace (`unshare --mount`): a journald of
    /// its own on tmpfs, ready when it returns; the script starts the daemon as `$D`, and the
    /// trap stops both.
    static func privateJournald(_ directory: TemporaryDirectory) -> String {
        """
        set -e
        mount -t tmpfs -o mode=755 tmpfs /run/systemd
        mkdir -p /run/systemd/journal /run/log /var/log/journal
        mount -t tmpfs -o mode=2755 tmpfs /run/log
        mount -t tmpfs -o mode=2755 tmpfs /var/log/journal
        printf '[Journal]\\nStorage=volatile\\nReadKMsg=no\\nAudit=no\\nRateLimitBurst=0\\n' > '\(directory.file("journald.conf"))'
        mount --bind '\(directory.file("journald.conf"))' /etc/systemd/journald.conf
        /lib/systemd/systemd-journald > '\(directory.file("journald.log"))' 2>&1 & J=$!
        trap 'kill $J 2>/dev/null; kill $D 2>/dev/null; true' EXIT
        for i in $(seq 200); do journalctl --sync 2>/dev/null && break; sleep 0.05; done

        """
    }

    @Test func buildLinesReachTheJournalWithJobAndBuildFields() async throws {
        let directory = try TemporaryDirectory()
        chmod(directory.path, 0o755)
        let command = "echo hello journal; echo careful >&2; jobctl log --level error via-helper"
        try directory.write("c.yaml", "jobs:\n  - {id: journaled, command: '\(command)'}\n")
        let socket = directory.file("s.sock")
        let jobctl = "'\(Binaries.jobctl)' --socket '\(socket)'"
        let script =
            JournalTests.privateJournald(directory) + """
                '\(Binaries.jobcontrold)' --log-target journal --config '\(directory.file("c.yaml"))' \\
                    --storage 'sqlite://\(directory.file("db.sqlite3"))' --socket '\(socket)' & D=$!
                for i in $(seq 200); do \(jobctl) status >/dev/null 2>&1 && break; sleep 0.05; done
                \(jobctl) run journaled --wait
                \(jobctl) logs 1 > '\(directory.file("jobctl-logs.txt"))'
                kill -TERM $D; wait $D || true
                journalctl --sync
                journalctl --no-pager -o json JOBCONTROL_JOB=journaled > '\(directory.file("journal.json"))'
                echo finished
                """
        let result = try await runProcess(
            "/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/bash", "-c", script])
        #expect(result.stdout.contains("finished"), "\(result.stdout)\(result.stderr)")
        let entries = try String(contentsOfFile: directory.file("journal.json"), encoding: .utf8)
            .split(separator: "\n").map { try JSONValue.parse(String($0)) }
        let stdout = entries.first { $0["MESSAGE"] == "hello journal" }
        #expect(stdout?["PRIORITY"] == "6")
        #expect(stdout?["JOBCONTROL_BUILD"] == "1")
        #expect(stdout?["JOBCONTROL_LOGGER"] == "stdout")
        #expect(entries.first { $0["MESSAGE"] == "careful" }?["PRIORITY"] == "4")
        // A line the build logged through jobctl log goes there too (it did not).
        let helper = entries.first { $0["MESSAGE"] == "via-helper" }
        #expect(
            helper?["PRIORITY"] == "3" && helper?["JOBCONTROL_BUILD"] == "1", "\(entries.map(\.["MESSAGE"]))")
        // The daemon's own messages about the build carry the same fields and where they come from.
        let started = entries.first { $0["MESSAGE"] == "build started" }
        #expect(started?["JOBCONTROL_BUILD"] == "1")
        #expect(started?["CODE_FILE"]?.stringValue?.isEmpty == false)
        // jobctl logs tells the same story.
        let logs = try String(contentsOfFile: directory.file("jobctl-logs.txt"), encoding: .utf8)
        #expect(logs.contains("stdout: hello journal") && logs.contains("stderr: careful"))
    }
}
