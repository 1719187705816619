import Foundation
import JobControl
import Testing

/// `jobctl run --follow`, `logs --follow` and `progress --watch` on a real pseudo-terminal
/// (`script(1)` allocates one) and on a pipe.
@Suite struct LiveViewTests {
    static let config = """
        jobs:
          - id: pipeline
            command: |
              for i in 1 2 3; do
                jobctl progress $i 3 --group "download::file-$i" --status "fetching file $i"
                jobctl progress $i 3 --status "step $i of 3"
                echo "downloaded file $i"
                sleep 0.3
              done
              echo "almost done" >&2
        """

    /// Runs `jobctl ARGS` under a pseudo-terminal; returns everything it drew.
    func onTerminal(_ daemon: DaemonProcess, _ arguments: String, environment: [String: String] = [:]) async throws
        -> ProcessResult
    {
        let command = "\(Binaries.jobctl) --socket \(daemon.socket) \(arguments)"
        return try await runProcess(
            "/usr/bin/script", ["-q", "-e", "-c", command, "/dev/null"],
            environment: environment.merging(["TERM": "xterm"]) { a, _ in a })
    }

    @Test func followDrawsALiveTreeOfNestedProgressOnATerminal() async throws {
        let daemon = try await DaemonProcess(
            config: Self.config, environment: ["PATH": Binaries.directory.path + ":/usr/bin:/bin"])
        let result = try await onTerminal(daemon, "run pipeline --follow")
        #expect(result.status == 0, "\(result.stdout)")
        let screen = result.stdout
        #expect(screen.contains("\u{1B}[") && screen.contains("A\r\u{1B}[J"), "redraws in place")
        #expect(screen.contains("█"))
        for text in [
            "download", "file-1", "file-3", "fetching file 2", "step 3 of 3", "100%", "elapsed", "downloaded file 2",
            "almost done", "SUCCESSFUL",
        ] {
            #expect(screen.contains(text), "missing \(text)")
        }
        // NO_COLOR: still redrawn, but no colour codes.
        let plain = try await onTerminal(daemon, "run pipeline --follow", environment: ["NO_COLOR": "1"])
        #expect(!plain.stdout.contains("\u{1B}[3") && !plain.stdout.contains("\u{1B}[1m"))
        #expect(plain.stdout.contains("█"))
        try await daemon.stop()
    }

    /// What a job prints, names or reports is shown on a terminal, not obeyed: an escape that
    /// sets the window title or clears the screen arrives as `^[`, in logs, the live view, a
    /// job's title and a build's exception. On a pipe the text stays as stored.
    @Test func controlCharactersFromAJobAreShownNotObeyed() async throws {
        let daemon = try await DaemonProcess(
            config: #"""
                jobs:
                  - id: hostile
                    title: "Title \e]0;OWNED\a"
                    command: |
                      printf 'line \033]0;OWNED\007 \033[2J\n'
                      jobctl progress 1 2 --status "$(printf 'bad\033[2Jstatus\nsecond row')"
                      sleep 1
                      echo "tail \033[31m" >&2; exit 3
                """#, environment: ["PATH": Binaries.directory.path + ":/usr/bin:/bin"])
        let follow = try await onTerminal(daemon, "run hostile --follow")
        let logs = try await onTerminal(daemon, "logs 1")
        let jobs = try await onTerminal(daemon, "jobs")
        let build = try await onTerminal(daemon, "build 1")
        let progress = try await onTerminal(daemon, "progress 1")
        for (name, screen) in [
            ("follow", follow), ("logs", logs), ("jobs", jobs), ("build", build), ("progress", progress),
        ] {
            #expect(!screen.stdout.contains("\u{1B}]0;"), "\(name) set the title: \(screen.stdout.debugDescription)")
            #expect(
                !screen.stdout.contains("\u{1B}[2J"), "\(name) cleared the screen: \(screen.stdout.debugDescription)")
        }
        #expect(logs.stdout.contains("line ^[]0;OWNED^G ^[[2J"), "\(logs.stdout.debugDescription)")
        #expect(jobs.stdout.contains("Title ^[]0;OWNED^G"), "\(jobs.stdout.debugDescription)")
        #expect(build.stdout.contains("tail ^[[31m"), "\(build.stdout.debugDescription)")
        #expect(follow.stdout.contains("stdout: line ^[]0;OWNED^G ^[[2J"), "\(follow.stdout.debugDescription)")
        #expect(progress.stdout.contains("bad^[[2Jstatus"), "\(progress.stdout.debugDescription)")
        // The live view's block keeps each group on one row (it moves up by the rows it drew):
        // the newline shown, the status cut to the width of the terminal.
        #expect(follow.stdout.contains("bad^[[2Jstatus^J"), "\(follow.stdout.debugDescription)")
        // To a pipe, as stored.
        let piped = try await daemon.jobctl("logs", "1")
        #expect(piped.stdout.contains("line \u{1B}]0;OWNED\u{07} \u{1B}[2J"), "\(piped.stdout.debugDescription)")
        try await daemon.stop()
    }

    @Test func onAPipeFollowingPrintsPlainLines() async throws {
        let daemon = try await DaemonProcess(
            config: Self.config, environment: ["PATH": Binaries.directory.path + ":/usr/bin:/bin"])
        let run = try await daemon.jobctl("run", "pipeline", "--follow")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(!run.stdout.contains("\u{1B}["))
        #expect(run.stdout.contains("progress download::file-2 2/3 66% fetching file 2"), "\(run.stdout)")
        #expect(run.stdout.contains("stdout: downloaded file 3"))
        #expect(run.stdout.contains("SUCCESSFUL"))

        // Following a finished build prints it all and ends.
        let logs = try await daemon.jobctl("logs", "1", "--follow")
        #expect(logs.status == 0)
        #expect(logs.stdout.contains("downloaded file 1") && logs.stdout.contains("almost done"))
        let json = try await daemon.jobctl("--json", "logs", "1", "--follow")
        let lines = json.stdout.split(separator: "\n")
        #expect(lines.count == 4)
        #expect(try JSONValue.parse(String(lines[0]))["message"] == "downloaded file 1")
        let watch = try await daemon.jobctl("progress", "1", "--watch")
        #expect(watch.stdout.contains("SUCCESSFUL"))
        try await daemon.stop()
    }

    /// The dependency builds' lines come out where they happened, before the followed build's
    /// log, on a pipe too (where stdio held them until jobctl exited).
    @Test func aFollowedRunPrintsItsDependenciesFirst() async throws {
        let daemon = try await DaemonProcess(
            config: """
                jobs:
                  - {id: fetch, command: [/bin/true]}
                  - {id: report, command: [/bin/echo, report line], dependencies: [fetch]}
                """)
        let run = try await daemon.jobctl("run", "report", "--build-deps", "--follow")
        #expect(run.status == 0, "\(run.stderr)")
        let dependency = try #require(run.stdout.range(of: "of fetch"), "\(run.stdout)")
        let log = try #require(run.stdout.range(of: "report line"), "\(run.stdout)")
        #expect(dependency.lowerBound < log.lowerBound, "\(run.stdout)")
        try await daemon.stop()
    }
}
