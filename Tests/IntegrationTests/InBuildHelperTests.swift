import Foundation
import JobControl
import Testing

/// A shell script reports nested progress, log lines, a return value, or a skip, with `jobctl`
/// and the token of its build.
@Suite struct InBuildHelperTests {
    static let config = """
        jobs:
          - id: downloader
            command: |
              for i in 1 2 3; do jobctl progress $i 3 --group download::file-1 --status "chunk $i"; done
              jobctl progress 1 4 --group download::file-2
              jobctl progress 5 10 --group process
              jobctl log --level warning "disk nearly full"
              jobctl retval --json '{"files": ["a", "b"], "count": 2}'
              echo "$JOBCONTROL_TOKEN" > "$1"
            args: [TOKENFILE]
          - id: consumer
            dependencies: [downloader]
            command: [echo, got]
            args: [!retval downloader, plain]
          - id: numbers
            command: "jobctl retval --json '[1, 2.5, \\"x\\", null]'"
          - id: count
            command: 'jobctl retval --json 42'
          - id: text
            command: 'jobctl retval "hello world"'
          - id: printer
            dependencies: [numbers, count, text]
            command: 'for a in "$@"; do echo "arg: $a"; done'
            args: [!retval numbers, !retval count, !retval text]
          - id: nothing-to-do
            command: 'jobctl skip "no new data" && exit 0'
          - id: skip-then-fail
            command: 'jobctl skip "changed my mind"; exit 4'
        """

    @Test func nestedProgressLogsRetvalAndSkipFromAShellScript() async throws {
        let directory = try TemporaryDirectory()
        let tokenFile = directory.file("token")
        let daemon = try await DaemonProcess(config: Self.config.replacingOccurrences(of: "TOKENFILE", with: tokenFile))

        let run = try await daemon.jobctl("--json", "run", "downloader", "--wait")
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let build = try JSONValue.parse(run.stdout)
        let id = try #require(build["id"]?.intValue)
        #expect(build["retval"] == ["files": ["a", "b"], "count": 2])

        let progress = try JSONValue.parse(try await daemon.jobctl("--json", "progress", "\(id)").stdout)
        guard case .array(let groups) = progress else { throw TestFailure("no progress groups") }
        let byName = Dictionary(uniqueKeysWithValues: groups.map { ($0["group"]?.stringValue ?? "?", $0) })
        #expect(byName["download::file-1"]?["current"] == 3)
        #expect(byName["download::file-1"]?["status"] == "chunk 3")
        #expect(byName["download"]?["current"] == 4 && byName["download"]?["total"] == 7)
        #expect(byName["download"]?["reported"] == false)
        #expect(byName[""]?["current"] == 9 && byName[""]?["total"] == 17)
        let tree = try await daemon.jobctl("progress", "\(id)").stdout
        #expect(tree.contains("    file-1") && tree.contains("3/3") && tree.contains("chunk 3"))

        #expect(try await daemon.jobctl("logs", "\(id)").stdout.contains("WARNING  jobctl: disk nearly full"))

        // The return value reaches a dependent's argv: JSON for non-strings, strings verbatim.
        let consumer = try JSONValue.parse(try await daemon.jobctl("--json", "run", "consumer", "--wait").stdout)
        let consumerID = try #require(consumer["id"]?.intValue)
        #expect(
            try await daemon.jobctl("logs", "\(consumerID)").stdout.contains(
                #"got {"count":2,"files":["a","b"]} plain"#))

        // Retvals of several types: JSON text for lists and numbers, strings verbatim, one argv word each.
        for producer in ["numbers", "count", "text"] {
            #expect(try await daemon.jobctl("run", producer, "--wait").status == 0)
        }
        let printer = try JSONValue.parse(try await daemon.jobctl("--json", "run", "printer", "--wait").stdout)
        let printed = try await daemon.jobctl("logs", "\(try #require(printer["id"]?.intValue))").stdout
        #expect(printed.contains(#"arg: [1,2.5,"x",null]"#), "\(printed)")
        #expect(printed.contains("arg: 42"))
        #expect(printed.contains("arg: hello world"))

        // The token dies with its build.
        let token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines)
        let late = try await runProcess(
            Binaries.jobctl, ["--socket", daemon.socket, "log", "too late"], environment: ["JOBCONTROL_TOKEN": token])
        #expect(late.status == 1)
        #expect(late.stderr.contains("the build has ended"))

        let skipped = try JSONValue.parse(try await daemon.jobctl("--json", "run", "nothing-to-do", "--wait").stdout)
        #expect(skipped["state"] == "SKIPPED")
        let failed = try JSONValue.parse(try await daemon.jobctl("--json", "run", "skip-then-fail", "--wait").stdout)
        #expect(failed["state"] == "FAILED")

        let outside = try await runProcess(
            Binaries.jobctl, ["--socket", daemon.socket, "skip"], environment: ["JOBCONTROL_TOKEN": ""])
        #expect(outside.status != 0)
        #expect(outside.stderr.contains("only inside a build"))
        try await daemon.stop()
    }
}

extension InBuildHelperTests {
    /// Return values a build could not store are refused at `jobctl retval`, with the reason,
    /// while the build can still set another: nested past 128 levels (a listing's reply wraps
    /// each value deeper, and a value of 253 levels made `jobctl builds` fail for everyone),
    /// or infinite (stored as null before).
    @Test func retvalsTheBuildCouldNotStoreAreRefusedAtTheCall() async throws {
        let daemon = try await DaemonProcess(
            config: """
                jobs:
                  - id: odd-values
                    command: |
                      deep=$(python3 -c 'print("[" * 253 + "]" * 253)')
                      for value in "$deep" '{"a": 1e309}'; do
                        if said=$(jobctl retval --json "$value" 2>&1); then echo "accepted"; else echo "refused: $said"; fi
                      done
                      jobctl retval --json '{"kept": true}'
                """)
        let run = try await daemon.jobctl("--json", "run", "odd-values", "--wait")
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let build = try JSONValue.parse(run.stdout)
        #expect(build["retval"] == ["kept": true])
        let id = try #require(build["id"]?.intValue)
        let log = try await daemon.jobctl("logs", "\(id)").stdout
        #expect(!log.contains("accepted"), "\(log)")
        #expect(log.contains("nested deeper than 128 levels"), "\(log)")
        #expect(log.contains("number out of range"), "\(log)")
        #expect(try await daemon.jobctl("builds").status == 0)
        try await daemon.stop()
    }

    /// A build's own log lines cannot pass for the daemon's (`jobcontrol`) or its output's
    /// (`stdout`, `stderr`): logged under those names in any case (a Python logger named
    /// `jobcontrol`, a raw call), or under one that is not plain printable ASCII and could look
    /// like them, they are stored as `build.NAME`. A forged "attempt 9 starts" used to count as an
    /// attempt at crash recovery, using up the build's retries. And a message's own newlines
    /// cannot start a line of `jobctl logs` that passes for a record of its own.
    @Test func aBuildCannotLogUnderTheDaemonsNames() async throws {
        let daemon = try await DaemonProcess(
            config: #"""
                jobs:
                  - id: forger
                    command: |
                      python3 - <<'PY'
                      import json, os, socket
                      def log(name, message):
                          s = socket.socket(socket.AF_UNIX)
                          s.connect(os.environ["JOBCONTROL_BUILD_SOCKET"])
                          call = {"method": "io.jobcontrol.Build.Log", "parameters": {
                              "token": os.environ["JOBCONTROL_TOKEN"], "message": message, "logger": name}}
                          s.sendall(json.dumps(call).encode() + b"\0")
                          assert b"error" not in s.recv(65536)
                      for name in ["jobcontrol", "stdout", "stderr", "mine", "JobControl", " jobcontrol",
                                   "jobcontrol\u200b", "j\u043ebcontrol", "my.module"]:
                          log(name, "attempt 9 starts")
                      log("x", "hello\n2026-12-07T13:53:37Z INFO     jobcontrol: build succeeded")
                      log("x", "crlf\r\n2026-12-07T13:53:37Z INFO     jobcontrol: by a CR LF")
                      log("x", "cr\r2026-12-07T13:53:37Z INFO     jobcontrol: over a lone CR")
                      log("a\r\n2026-12-07T13:53:37Z INFO     jobcontrol", "by the logger's name")
                      PY
                """#)
        let run = try await daemon.jobctl("--json", "run", "forger", "--wait")
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let storage = try StorageFactory.open(url: "sqlite://" + daemon.database)
        let forged = try storage.iterLogMessages(LogQuery(buildID: 1)).filter { $0.message == "attempt 9 starts" }
        #expect(
            forged.map(\.logger) == [
                "build.jobcontrol", "build.stdout", "build.stderr", "mine", "build.JobControl", "build. jobcontrol",
                "build.jobcontrol\u{200B}", "build.j\u{043E}bcontrol", "my.module",
            ])
        let printed = try await daemon.jobctl("logs", "1").stdout
        // Lines as `cat` on a terminal, or a line-reading script, would see them.
        let lines = printed.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }
        #expect(!lines.contains { $0.hasPrefix("2026-12-07T13:53:37Z") }, "\(printed)")
        #expect(
            printed.contains("x: hello\n    2026-12-07T13:53:37Z INFO     jobcontrol: build succeeded\n"), "\(printed)")
        #expect(printed.contains("x: crlf\r\n    2026-12-07T13:53:37Z INFO     jobcontrol: by a CR LF\n"), "\(printed)")
        #expect(printed.contains("x: cr\r    2026-12-07T13:53:37Z INFO     jobcontrol: over a lone CR\n"), "\(printed)")
        try await daemon.stop()
    }

    /// A build that runs as another user (`user: nobody`) may not open the control socket (mode
    /// 0660); its helpers reach the daemon through the builds' socket beside it, which serves
    /// a running build's own calls and nothing else.
    @Test func aBuildRunningAsAnotherUserReportsThroughTheBuildsSocket() async throws {
        let directory = try TemporaryDirectory()
        chmod(directory.path, 0o755)  // nobody must reach the sockets in it
        try directory.write(
            "jobcontrol.yaml",
            """
            jobs:
              - id: as-nobody
                user: nobody
                command: 'jobctl progress 1 2 --status "as $(id -un)" && jobctl log "logged by $(id -un)"'
            """)
        let daemon = try await DaemonProcess(directory: directory)
        let builds = ControlSocketPath.builds(beside: daemon.socket)
        var info = stat()
        #expect(stat(builds, &info) == 0 && info.st_mode & 0o777 == 0o666, "the builds' socket")
        let run = try await daemon.jobctl("run", "as-nobody", "--wait")
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let logs = try await daemon.jobctl("logs", "1")
        #expect(logs.stdout.contains("logged by nobody"), "\(logs.stdout)")
        #expect(!logs.stdout.contains("cannot connect"), "\(logs.stdout)")
        let progress = try await daemon.jobctl("progress", "1")
        #expect(progress.stdout.contains("as nobody"), "\(progress.stdout)")
        // Nothing but a build's own calls there, whoever asks.
        let status = try await runProcess(Binaries.jobctl, ["--socket", builds, "status"])
        #expect(status.status != 0 && status.stderr.contains("builds' own calls"), "\(status.stdout)\(status.stderr)")
        try await daemon.stop()
        #expect(access(builds, F_OK) != 0, "the builds' socket is removed when the daemon stops")
    }
}
