import Foundation
import Glibc
import JobControl
import Testing

/// What `jobctl` does when the daemon does not answer, when global options come before a
/// command that needs no daemon, and when what a job stored would not fit a table's row.
@Suite struct ClientLimitsTests {
    /// A socket that is listened on and never accepted from: the kernel takes the connection and
    /// the call (a stopped daemon's socket, or a hung one's), and no answer ever comes.
    final class SilentSocket {
        let directory: TemporaryDirectory
        let path: String
        let descriptor: Int32

        init() throws {
            directory = try TemporaryDirectory()
            path = directory.file("silent.sock")
            descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { buffer in
                buffer.copyBytes(from: Array(path.utf8) + [0])
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard bound == 0, listen(descriptor, 16) == 0 else {
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            }
        }

        deinit { close(descriptor) }
    }

    @Test(arguments: [
        ["status"], ["builds"], ["run", "a"], ["run", "a", "--wait"], ["reload"], ["--json", "jobs"],
    ])
    func jobctlGivesUpOnADaemonThatDoesNotAnswer(_ command: [String]) async throws {
        let silent = try SilentSocket()
        // Without a limit jobctl waits until runProcess kills it (no exit 69, no message).
        let result = try await runProcess(
            Binaries.jobctl, ["--socket", silent.path] + command, environment: ["JOBCONTROL_TIMEOUT": "0.5"],
            timeout: .seconds(30))
        #expect(result.status == 69, "\(command): \(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("jobcontrold did not answer within 0.5 s"), "\(result.stderr)")
    }

    @Test func aTimeoutThatIsNoNumberIsAUsageError() async throws {
        let silent = try SilentSocket()
        let result = try await runProcess(
            Binaries.jobctl, ["--socket", silent.path, "status"], environment: ["JOBCONTROL_TIMEOUT": "soon"],
            timeout: .seconds(30))
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains("JOBCONTROL_TIMEOUT must be a number of seconds"), "\(result.stderr)")
    }

    /// `alias jobctl='jobctl --socket …'` still works for the commands that reach no daemon.
    @Test func aSocketBeforeAnOfflineCommandIsNoError() async throws {
        let directory = try TemporaryDirectory()
        let config = directory.file("c.yaml")
        try "jobs:\n  - {id: a, command: [/bin/true]}\n".write(toFile: config, atomically: true, encoding: .utf8)
        for arguments in [
            ["--socket", directory.file("none.sock"), "calendar", "daily"],
            ["--socket=\(directory.file("none.sock"))", "--json", "calendar", "daily"],
            ["--socket", directory.file("none.sock"), "check-config", config],
        ] {
            let result = try await runProcess(Binaries.jobctl, arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
        }
    }

    /// A huge return value or a message of several lines stays in its row of `jobctl builds`, and
    /// a status with a line break in its row of `jobctl progress`.
    @Test func tablesAndTreesKeepEachRowOnOneLine() async throws {
        let daemon = try await DaemonProcess(
            config: """
                jobs:
                  - id: big
                    command: 'jobctl progress 1 2 --status "$(printf "one\\ntwo\\tthree")"; jobctl retval "$(head -c 5000 /dev/zero | tr "\\0" r)"'
                  - id: lines
                    command: 'printf "first\\nsecond\\n" >&2; exit 3'
                """)
        #expect(try await daemon.jobctl("run", "big", "--wait").status == 0)
        #expect(try await daemon.jobctl("run", "lines", "--wait").status == 1)
        let builds = try await daemon.jobctl("builds")
        let rows = builds.stdout.split(separator: "\n")
        #expect(rows.count == 3, "\(builds.stdout)")
        #expect(rows.allSatisfy { $0.count < 220 }, "\(builds.stdout)")
        #expect(builds.stdout.contains("rrrr…"), "\(builds.stdout)")
        let progress = try await daemon.jobctl("progress", "1")
        #expect(progress.stdout.contains("one^Jtwo three"), "\(progress.stdout)")
        #expect(progress.stdout.split(separator: "\n").count == 1, "\(progress.stdout)")
        // The whole value is still there for scripts.
        let build = try await daemon.jobctl("--json", "build", "1")
        #expect(build.stdout.contains(String(repeating: "r", count: 5000)))
        try await daemon.stop()
    }
}
