import Foundation
import Testing

/// Output jobctl cannot write is an error (exit status 74 and a line on stderr), on both of its
/// paths: a script redirecting `jobctl --json builds` to a full disk got status 0 and a cut-off
/// file. A reader that went away still ends it as SIGPIPE does.
@Suite struct OutputErrorTests {
    @Test func aFullDiskOrAClosedStdoutIsAnError() async throws {
        let daemon = try await DaemonProcess(config: "jobs:\n  - id: idle\n    command: [true]\n")
        defer { daemon.kill() }
        let jobctl = "'\(Binaries.jobctl)' --socket '\(daemon.socket)'"
        #expect(try await daemon.jobctl("run", "idle", "--wait").status == 0)  // build 1, for `logs 1`
        for fastPath in [true, false] {
            let environment = fastPath ? [:] : ["JOBCTL_NO_FAST_PATH": "1"]
            let cases: [(String, String)] = [
                ("status > /dev/full", "No space left on device"),
                ("--json jobs > /dev/full", "No space left on device"),
                ("next > /dev/full", "No space left on device"),
                ("--json next > /dev/full", "No space left on device"),
                // A closed stdout: EBADF on both paths (the daemon's socket, opened next, took
                // its number and got the output, or an error of its own, on the fast path).
                ("status >&-", "Bad file descriptor"),
                ("show idle >&-", "Bad file descriptor"),
                ("logs 1 >&-", "Bad file descriptor"),
            ]
            for (command, reason) in cases {
                let result = try await runProcess("/bin/sh", ["-c", "\(jobctl) \(command)"], environment: environment)
                #expect(result.status == 74, "\(command): \(result.status) \(result.stderr)")
                #expect(result.stderr == "jobctl: cannot write the output: \(reason)\n", "\(command): \(result.stderr)")
            }
            // A closed stderr or stdin changes nothing.
            for command in ["status 2>&-", "status <&-"] {
                let result = try await runProcess("/bin/sh", ["-c", "\(jobctl) \(command)"], environment: environment)
                #expect(result.status == 0 && result.stdout.hasPrefix("jobcontrold "), "\(command): \(result.stdout)")
            }
            // Output past stdio's first flushes (over 64 KiB): those writes failed before the exit.
            let big = try await runProcess(
                "/bin/sh", ["-c", "'\(Binaries.jobctl)' --json calendar minutely --iterations 5000 > /dev/full"],
                environment: environment)
            #expect(big.status == 74, "\(big.status) \(big.stderr)")
            #expect(big.stderr == "jobctl: cannot write the output: No space left on device\n")
            // check-config runs jobcontrold --check-config in its place: its verdict too.
            let side = try TemporaryDirectory()
            try side.write("c.yaml", "jobs:\n  - {id: a, command: [true]}\n")
            for json in ["", "--json "] {
                let verdict = try await runProcess(
                    "/bin/sh", ["-c", "'\(Binaries.jobctl)' \(json)check-config '\(side.file("c.yaml"))' > /dev/full"],
                    environment: environment)
                #expect(verdict.status == 74, "\(verdict.status) \(verdict.stderr)")
                #expect(verdict.stderr == "jobctl: cannot write the output: No space left on device\n")
                // The daemon's own check names the daemon.
                let own = try await runProcess(
                    "/bin/sh",
                    ["-c", "'\(Binaries.jobcontrold)' --check-config --config '\(side.file("c.yaml"))' > /dev/full"],
                    environment: environment)
                #expect(own.status == 74, "\(own.status) \(own.stderr)")
                #expect(own.stderr == "jobcontrold: cannot write the output: No space left on device\n")
            }
            let fine = try await runProcess(
                "/bin/sh", ["-c", "\(jobctl) status > /dev/null"], environment: environment)
            #expect(fine.status == 0 && fine.stderr.isEmpty, "\(fine.stderr)")
            // A reader that stops reading: SIGPIPE's status, nothing said.
            let gone = try await runProcess(
                "/bin/sh",
                ["-c", "'\(Binaries.jobctl)' --json calendar minutely --iterations 1000 | head -c 1 >/dev/null"],
                environment: environment)
            #expect(!gone.stderr.contains("cannot write"), "\(gone.stderr)")
        }
    }

    /// `jobctl import … -o FILE` on a full disk: status 74 and no file (it left an empty one,
    /// which every retry was then refused for, and said so with a usage error).
    @Test func anImportThatCannotBeWrittenLeavesNoFile() async throws {
        let side = try TemporaryDirectory()
        try side.write("crontab", "0 3 * * * root /usr/local/bin/backup\n")
        let full = side.file("full")
        try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true)
        // A tmpfs of this process's own (a private mount namespace), filled up first.
        let script = """
            mount -t tmpfs -o size=64k tmpfs "$1" || exit 99
            dd if=/dev/zero of="$1/filler" bs=4k 2>/dev/null
            "$2" import cron "$3" -o "$1/jobs.yaml"; status=$?
            [ -e "$1/jobs.yaml" ] && echo "left a file"
            exit $status
            """
        let result = try await runProcess(
            "/usr/bin/unshare",
            [
                "--mount", "--propagation", "private", "sh", "-c", script, "sh", full, Binaries.jobctl,
                side.file("crontab"),
            ])
        #expect(result.status == 74, "\(result.status): \(result.stdout) \(result.stderr)")
        #expect(!result.stdout.contains("left a file"))
        #expect(result.stderr.contains("cannot write \(full)/jobs.yaml: No space left on device; nothing was written"))
    }
}
