import Foundation
import JobControl
import JobControlClient
import Synchronization
import Testing

/// Where `swift build` put the executables: beside this test binary.
enum Binaries {
    static let directory: URL = {
        let executable =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var url = URL(fileURLWithPath: executable).deletingLastPathComponent()
        // The test binary may sit inside a bundle directory (`….xctest/`), or directly in the build folder.
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("jobcontrold").path), url.path != "/" {
            url.deleteLastPathComponent()
        }
        return url
    }()
    static var jobcontrold: String { directory.appendingPathComponent("jobcontrold").path }
    static var jobctl: String { directory.appendingPathComponent("jobctl").path }
}

/// A finished process's status and output.
struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `path` with `arguments` to its end (bounded by `timeout`), capturing its output.
///
/// The waiting happens on a thread of its own: blocking one of the few cooperative threads
/// (two on a 2-core machine) would stall every other test's timers and tasks meanwhile.
func runProcess(
    _ path: String, _ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(60)
) async throws -> ProcessResult {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            // Signals (SIGCHLD above all) go to other threads: an interrupted read makes
            // Foundation's FileHandle trap (`try!` on EINTR).
            var signals = sigset_t()
            sigfillset(&signals)
            pthread_sigmask(SIG_BLOCK, &signals, nil)
            do {
                continuation.resume(
                    returning: try runProcessBlocking(path, arguments, environment: environment, timeout: timeout))
            } catch {
                continuation.resume(throwing: error)
            }
        }
        thread.start()
    }
}

private func runProcessBlocking(_ path: String, _ arguments: [String], environment: [String: String], timeout: Duration)
    throws -> ProcessResult
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    let stdout = Pipe(), stderr = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // Past the timeout: SIGINT, so a script can end what it started, then SIGKILL 15 s later.
    let watchdog = DispatchWorkItem {
        guard process.isRunning else { return }
        process.interrupt()
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(15)) {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
    }
    DispatchQueue.global().asyncAfter(
        deadline: .now() + .milliseconds(Int(timeout.components.seconds * 1000)), execute: watchdog)
    // Both pipes drained at once, so a chatty stderr cannot block the child while stdout is read.
    let errorOutput = Mutex(Data())
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        let data = stderr.fileHandleForReading.readDataToEndOfFile()
        errorOutput.withLock { $0 = data }
        group.leave()
    }
    let out = stdout.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    let err = errorOutput.withLock { $0 }
    let status = exitStatus(of: process)
    watchdog.cancel()
    return ProcessResult(
        status: status, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
}

/// Waits for `process` to end and returns its exit status (128 + the signal if a signal ended
/// it). Foundation's `Process` can miss a child's exit in this busy test process (seen: a child
/// left a zombie, never reaped, and `waitUntilExit()` waited forever), so the exit is also read
/// with `waitid(WNOWAIT)`, which leaves the zombie for Foundation to reap.
func exitStatus(of process: Process) -> Int32 {
    while true {
        if let status = endedStatus(of: process) { return status }
        usleep(10_000)
    }
}

/// The exit status if `process` has ended (see ``exitStatus(of:)``), without waiting.
func endedStatus(of process: Process) -> Int32? {
    guard process.isRunning else { return process.terminationStatus }
    var info = siginfo_t()
    let pid = process.processIdentifier
    guard waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0, info._sifields._sigchld.si_pid == pid
    else { return nil }
    let status = info._sifields._sigchld.si_status
    return info.si_code == CLD_EXITED ? status : 128 + status
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
func waitFor(_ what: String, timeout: Duration = .seconds(30), _ condition: () async -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    // Once more after the deadline: a test starved of the cooperative threads (every suite
    // starts at once on 2 cores) may wake only after it, with the condition long true.
    if await condition() { return }
    throw TestFailure("timed out after \(timeout) waiting for \(what)")
}

/// A process as it was when the test saw it, so that a later signal reaches it and nothing else:
/// process numbers wrap within a test run (pid_max is 32,768 on this machine kind), and a SIGKILL
/// to a number remembered from earlier once killed another test's build.
struct SeenProcess: Sendable, CustomStringConvertible {
    let pid: pid_t
    let startTicks: Int64

    /// The process numbered `pid` now; nil when there is none.
    init?(_ pid: pid_t) {
        guard let start = ProcessGroups.startTicks(of: pid) else { return nil }
        self.pid = pid
        startTicks = start
    }

    /// The process numbered `pid` now, if it started no later than `file` was last written (the
    /// process wrote its number there): one that started after that took a freed number.
    init?(pid: pid_t, wroteItTo file: String) {
        guard let seen = SeenProcess(pid),
            let written = try? FileManager.default.attributesOfItem(atPath: file)[.modificationDate] as? Date,
            let started = seen.started, started <= written.addingTimeInterval(1)
        else { return nil }
        self = seen
    }

    /// When it started (boot time plus its start ticks), nil when unknown.
    var started: Date? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
            let boot = Double(line.dropFirst(6))
        else { return nil }
        return Date(timeIntervalSince1970: boot + Double(startTicks) / Double(sysconf(Int32(_SC_CLK_TCK))))
    }

    /// Still this process, and not a zombie.
    var isRunning: Bool {
        guard ProcessGroups.startTicks(of: pid) == startTicks,
            let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let closing = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(closing, offsetBy: 2)] != "Z"
    }

    /// Sends `signal` if it is still this process.
    func kill(_ signal: Int32 = SIGKILL) {
        if isRunning { Glibc.kill(pid, signal) }
    }

    var description: String { "\(pid)" }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A fresh temporary directory with a short path (Unix socket paths are limited to 107 bytes).
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/jc-test-XXXXXX".utf8CString)
        guard let result = mkdtemp(&template) else { throw TestFailure("mkdtemp failed: errno \(errno)") }
        path = String(cString: result)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: file(name), atomically: true, encoding: .utf8)
    }

    /// Removed with what is in it. A storage a test opened on the daemon's database may still be
    /// closing on its writer thread, and SQLite deletes the `-wal` file as it closes: when that
    /// happens between Foundation listing the directory and unlinking the file, the removal stops
    /// at the missing file and leaves the rest (a few per full run kept a lone `daemon.log`). So
    /// the removal is retried, and what still resists it is named on stderr.
    deinit {
        var attempts = 0
        while FileManager.default.fileExists(atPath: path) {
            if attempts == 5 {
                let left = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                FileHandle.standardError.write(Data("cannot remove \(path): left \(left)\n".utf8))
                return
            }
            if attempts > 0 { usleep(20_000) }
            try? FileManager.default.removeItem(atPath: path)
            attempts += 1
        }
    }
}

/// The real `jobcontrold` binary on a temporary socket and database. `stop()` ends it; so does
/// deinit, so no test leaves a daemon behind.
final class DaemonProcess {
    let directory: TemporaryDirectory
    private(set) var process = Process()
    let stderrFile: String
    /// Names the socket (and the log, when not the default): several daemons may share a directory.
    let name: String
    var socket: String { directory.file("\(name).sock") }
    var database: String { directory.file("jobcontrol.sqlite3") }

    /// `environment` is added to the test's own; `executable` replaces the built jobcontrold (a
    /// daemon built by another package).
    convenience init(config: String, environment: [String: String] = [:], executable: String? = nil) async throws {
        let directory = try TemporaryDirectory()
        try directory.write("jobcontrol.yaml", config)
        try await self.init(directory: directory, environment: environment, executable: executable)
    }

    /// A daemon on `directory`'s configuration, socket and database (a restart of another);
    /// `storageURL` replaces the directory's SQLite file.
    init(
        directory: TemporaryDirectory, environment: [String: String] = [:], storageURL: String? = nil,
        name: String = "jobcontrol",
        arguments: [String] = [], executable: String? = nil, relativeSocket: Bool = false
    ) async throws {
        self.directory = directory
        self.name = name
        stderrFile = directory.file(name == "jobcontrol" ? "daemon.log" : "\(name).log")
        if !FileManager.default.fileExists(atPath: stderrFile) {
            _ = FileManager.default.createFile(atPath: stderrFile, contents: nil)
        }
        let daemonArguments =
            [
                "--config", directory.file("jobcontrol.yaml"), "--storage", storageURL ?? ("sqlite://" + database),
                // `relativeSocket`: run in `directory`, named as a user there would name it.
                "--socket", relativeSocket ? "\(name).sock" : socket,
            ] + arguments
        let logHandle = FileHandle(forWritingAtPath: stderrFile)
        _ = try logHandle?.seekToEnd()
        func configure(_ process: Process) {
            process.executableURL = URL(fileURLWithPath: executable ?? Binaries.jobcontrold)
            if relativeSocket { process.currentDirectoryURL = URL(fileURLWithPath: directory.path) }
            process.arguments = daemonArguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
            process.standardError = logHandle
            process.standardOutput = FileHandle.nullDevice
            process.standardInput = FileHandle.nullDevice
        }
        configure(process)
        // ETXTBSY: a wrapper script written just before may still be open for writing in a child
        // another test is starting (a forked child holds its parent's descriptors until its
        // exec closes them). That passes; a fresh Process tries again.
        var attempts = 0
        while true {
            do {
                try process.run()
                break
            } catch let error as NSError
                where attempts < 100 && (error.userInfo[NSUnderlyingErrorKey] as? NSError)?.code == Int(ETXTBSY)
            {
                attempts += 1
                try await Task.sleep(for: .milliseconds(10))
                process = Process()
                configure(process)
            }
        }
        let socket = socket
        // Ready is an answer, not a connection: the daemon binds its socket before it recovers
        // builds and joins a cluster, and the kernel accepts connections from then on. A test
        // that went on at the first connection once saw a cluster of two of its three daemons.
        try await waitFor("the daemon to answer on its socket", timeout: .seconds(60)) {
            guard process.isRunning else { return true }
            return
                (try? await VarlinkConnection.withConnection(path: socket) { connection in
                    _ = try await connection.call("org.varlink.service.GetInfo")
                    return true
                }) ?? false
        }
        guard process.isRunning else {
            throw TestFailure("jobcontrold exited with \(process.terminationStatus): \(log)")
        }
    }

    var log: String { (try? String(contentsOfFile: stderrFile, encoding: .utf8)) ?? "" }

    /// Runs the real `jobctl` against this daemon.
    func jobctl(_ arguments: String...) async throws -> ProcessResult {
        try await runProcess(Binaries.jobctl, ["--socket", socket] + arguments)
    }

    /// SIGTERM, then SIGKILL if it has not stopped within 30 s (a stop takes well under a second,
    /// but CI starts every suite at once on 2 cores: two stops once took over 10 s there).
    /// Returns the exit status.
    @discardableResult
    func stop() async throws -> Int32 {
        if process.isRunning {
            process.terminate()
            let process = process
            do {
                try await waitFor("the daemon to stop", timeout: .seconds(30)) { endedStatus(of: process) != nil }
            } catch {
                Glibc.kill(process.processIdentifier, SIGKILL)
                _ = exitStatus(of: process)
                // What it was doing, for the one who reads the failure.
                throw TestFailure(
                    "\(error); the daemon's log ends:\n\(log.split(separator: "\n").suffix(30).joined(separator: "\n"))"
                )
            }
        }
        return exitStatus(of: process)
    }

    /// SIGKILL: a crash, as far as the daemon can tell.
    func kill() {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        _ = exitStatus(of: process)
    }

    deinit {
        if process.isRunning {
            let builds = Self.buildCgroup(of: process.processIdentifier)
            Glibc.kill(process.processIdentifier, SIGKILL)
            _ = exitStatus(of: process)
            // A test that failed before its `stop()`: the daemon died as in a crash, and no later
            // daemon recovers its builds. Their processes end with the test, not with the machine
            // (a build waiting for a gate its failed test never opened ran on for an hour).
            if let builds { Self.killAll(in: builds) }
        }
    }
}
