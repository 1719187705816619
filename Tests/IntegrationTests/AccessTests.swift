import Foundation
import JobControl
import Testing

/// `access:` against real peer credentials: jobctl run as other users over the real socket.
@Suite struct AccessTests {
    static let config = """
        access:
          read: [user:nobody]
          run: [user:daemon]
          socket_group: nogroup
        jobs:
          - {id: hello, command: 'true'}
        """

    func jobctl(as user: String, _ daemon: DaemonProcess, _ arguments: String...) async throws -> ProcessResult {
        try await runProcess(
            "/usr/sbin/runuser",
            ["-u", user, "-g", "nogroup", "--", Binaries.jobctl, "--socket", daemon.socket] + arguments)
    }

    @Test func eachUserGetsItsLevelAndRefusalsAreTypedAndLogged() async throws {
        let daemon = try await DaemonProcess(config: Self.config)
        chmod(daemon.directory.path, 0o755)  // let other users reach the socket

        var info = stat()
        stat(daemon.socket, &info)
        #expect(info.st_mode & 0o777 == 0o660)
        #expect(info.st_gid == getgrnam("nogroup")!.pointee.gr_gid)

        // read: listing works, running does not.
        let list = try await jobctl(as: "nobody", daemon, "jobs")
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout.contains("hello"))
        let refused = try await jobctl(as: "nobody", daemon, "run", "hello")
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("may not call RunJob: it needs 'run' access"), "\(refused.stderr)")
        let json = try await jobctl(as: "nobody", daemon, "--json", "run", "hello")
        #expect(json.stderr.contains("AccessDenied") || json.stderr.contains("'run' access"), "\(json.stderr)")

        // run: may run, may not prune.
        let run = try await jobctl(as: "daemon", daemon, "run", "hello", "--wait")
        #expect(run.status == 0, "\(run.stderr)")
        let prune = try await jobctl(as: "daemon", daemon, "prune")
        #expect(prune.status == 1)
        #expect(prune.stderr.contains("needs 'admin' access"), "\(prune.stderr)")

        // root may always do everything.
        #expect(try await daemon.jobctl("prune", "--dry-run").status == 0)
        try await daemon.stop()
        #expect(daemon.log.contains("refused a call"))
    }
}
