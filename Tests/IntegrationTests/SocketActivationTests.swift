import Foundation
import JobControl
import Testing

/// `systemd-socket-activate` holds the socket and starts the daemon on the first connection,
/// passing it as fd 3 with `LISTEN_FDNAMES=jobcontrol`.
@Suite struct SocketActivationTests {
    @Test func theDaemonStartsOnTheFirstConnectionAndUsesThePassedSocket() async throws {
        let directory = try TemporaryDirectory()
        let socket = directory.file("jobcontrol.sock")
        try directory.write(
            "c.yaml",
            "storage: sqlite://\(directory.file("db.sqlite3"))\nsocket: /nonexistent/ignored.sock\njobs:\n  - {id: a, command: 'true'}\n"
        )
        // Spawned directly rather than with Foundation's Process: Process loses track of its other
        // children (jobctl below stays a zombie) once this one execs the daemon.
        let arguments = [
            "/usr/bin/systemd-socket-activate", "-l", socket, "--fdname=jobcontrol", "--", Binaries.jobcontrold,
            "--config", directory.file("c.yaml"),
        ]
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        posix_spawn_file_actions_addopen(&fileActions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(
            &fileActions, 1, directory.file("activate.log"), O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&fileActions, 1, 2)
        var pid: pid_t = 0
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        guard posix_spawn(&pid, arguments[0], &fileActions, nil, argv, environ) == 0 else {
            throw TestFailure("spawn failed")
        }
        let activatorPID = pid
        var reaped = false
        defer {
            if !reaped {
                kill(activatorPID, SIGKILL)
                var status: Int32 = 0
                waitpid(activatorPID, &status, 0)
            }
        }
        try await waitFor("the activation socket") { FileManager.default.fileExists(atPath: socket) }
        let executable = {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(activatorPID)/exe")) ?? ""
        }
        #expect(executable().hasSuffix("systemd-socket-activate"), "nothing runs the daemon before a connection")

        let run = try await runProcess(
            Binaries.jobctl, ["--socket", socket, "run", "a", "--wait"], timeout: .seconds(60))
        #expect(run.status == 0, "\(run.stderr)")
        #expect(executable().hasSuffix("jobcontrold"), "the daemon took the activator's place")
        let text = try String(contentsOfFile: directory.file("activate.log"), encoding: .utf8)
        #expect(text.contains("using the control socket passed by the service manager"))

        kill(activatorPID, SIGTERM)
        var status: Int32 = 0
        try await waitFor("the daemon to stop") { waitpid(activatorPID, &status, WNOHANG) == activatorPID }
        reaped = true
        #expect(status == 0, "exit status \(status)")
        // The socket file belongs to whoever made it (systemd); the daemon leaves it alone.
        #expect(FileManager.default.fileExists(atPath: socket))
    }
}
