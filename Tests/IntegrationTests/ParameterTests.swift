import Foundation
import JobControl
import Testing

/// `jobctl run JOB -p name=value` against a real daemon: values reach the command typed and
/// checked, a secret one is masked everywhere it could show, schedules give their own values, and
/// `--build-deps` gives dependencies none unless asked.
@Suite struct ParameterTests {
    static let secret = "pa55-PARAM-77"

    static let config = """
        jobs:
          - id: deploy
            command: 'printf %s "$JOBCONTROL_PARAM_TOKEN" > "$SIDE/token"; printf %s "$JOBCONTROL_PARAMETERS" > "$SIDE/all"; echo "target=$1 count=$COUNT dry=$JOBCONTROL_PARAM_DRY_RUN token=$JOBCONTROL_PARAM_TOKEN"'
            args: [!param target]
            environment: {COUNT: !param count}
            parameters:
              target: {type: choice, choices: [staging, production], default: staging}
              count: {type: integer, required: true}
              dry_run: {type: boolean, default: false}
              token: {type: string, secret: true}
          - id: base
            command: 'echo "level=$JOBCONTROL_PARAM_LEVEL"'
            parameters: {level: {type: string, default: shallow}}
          - id: top
            dependencies: [base]
            command: 'echo top'
        """

    /// A job on a schedule of its own, only in the test about schedules (it runs every second).
    static let ticking = """

          - id: ticking
            command: 'echo "label=$JOBCONTROL_PARAM_LABEL"'
            parameters: {label: {type: string, default: none}}
            schedule: [{every: 1s, parameters: {label: scheduled}}]
            concurrency: allow
        """

    @Test func valuesReachTheCommandAndSecretOnesNothingElse() async throws {
        let side = try TemporaryDirectory()
        let daemon = try await DaemonProcess(config: Self.config, environment: ["SIDE": side.path])
        let run = try await daemon.jobctl(
            "--json", "run", "deploy", "--wait", "-p", "count=3", "-p", "dry_run=yes", "-p", "token=\(Self.secret)")
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(try String(contentsOfFile: side.file("token"), encoding: .utf8) == Self.secret)
        let all = try JSONValue.parse(String(contentsOfFile: side.file("all"), encoding: .utf8))
        #expect(all["count"] == .int(3) && all["dry_run"] == .bool(true) && all["target"] == "staging")
        let id = try #require(try JSONValue.parse(run.stdout)["id"]?.intValue)
        let logs = try await daemon.jobctl("logs", "\(id)")
        #expect(logs.stdout.contains("target=staging count=3 dry=true token=***"), "\(logs.stdout)")
        let shown = try await daemon.jobctl("build", "\(id)")
        #expect(
            shown.stdout.contains("Parameters: count=3, dry_run=true, target=staging, token=***"), "\(shown.stdout)")
        // The --json form, typed.
        let typed = try await daemon.jobctl(
            "--json", "run", "deploy", "--wait", "--params-json", #"{"count": 5, "target": "production"}"#)
        #expect(typed.status == 0, "\(typed.stderr)")
        #expect(try JSONValue.parse(typed.stdout)["config"]?["build"]?["parameters"]?["count"] == .int(5))
        var outputs = [run.stdout, run.stderr, logs.stdout, shown.stdout]
        for arguments in [["build", "\(id)"], ["logs", "\(id)"], ["show", "deploy"], ["builds", "deploy"]] {
            let result = try await daemon.jobctl("--json", arguments[0], arguments[1])
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            outputs += [result.stdout, result.stderr]
        }
        for suffix in ["", "-wal"] {
            let bytes = try #require(FileManager.default.contents(atPath: daemon.database + suffix))
            #expect(bytes.range(of: Data(Self.secret.utf8)) == nil, "the database file\(suffix) holds the secret")
        }
        try await daemon.stop()
        outputs.append(daemon.log)
        for (index, output) in outputs.enumerated() {
            #expect(!output.contains(Self.secret), "output \(index) shows the secret parameter: \(output)")
        }
    }

    @Test func badValuesAreRefusedBeforeAnythingRuns() async throws {
        let daemon = try await DaemonProcess(config: Self.config)
        let refusals: [([String], String)] = [
            (["run", "deploy"], "needs a value for 'count'"),
            (["run", "deploy", "-p", "count=many"], "parameter 'count': expected an integer, found 'many'"),
            (["run", "deploy", "-p", "count=1", "-p", "target=prod"], "'prod' is not one of staging, production"),
            (["run", "deploy", "-p", "count=1", "-p", "dry_run=perhaps"], "expected true or false"),
            (["run", "deploy", "-p", "count=1", "-p", "cuont=2"], "has no parameter 'cuont'"),
            (["run", "deploy", "-p", "count"], "-p takes NAME=VALUE"),
            (["run", "top", "-p", "base:level=x"], "needs --build-deps"),
            (["run", "top", "--build-deps", "-p", "base:nope=x"], "job 'base' has no parameter 'nope'"),
            (["run", "top", "--build-deps", "-p", "nope=x"], "job 'top' declares no parameters"),
            (["run", "top", "--build-deps", "-p", "deploy:count=1"], "'deploy' is not a dependency of 'top'"),
        ]
        for (arguments, message) in refusals {
            let result = try await runProcess(Binaries.jobctl, ["--socket", daemon.socket] + arguments)
            #expect(result.status != 0, "\(arguments) was accepted")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
        let builds = try await daemon.jobctl("--json", "builds", "deploy")
        #expect(try JSONValue.parse(builds.stdout) == .array([]), "a refused run creates no build")
        let base = try await daemon.jobctl("--json", "builds", "base")
        #expect(try JSONValue.parse(base.stdout) == .array([]), "nor does a refused dependency build")
    }

    @Test func dependenciesGetNoneUnlessAsked() async throws {
        let daemon = try await DaemonProcess(config: Self.config)
        let plain = try await daemon.jobctl("--json", "run", "top", "--build-deps", "--wait")
        #expect(plain.status == 0, "\(plain.stderr)")
        guard case .array(let built) = try JSONValue.parse(try await daemon.jobctl("--json", "builds", "base").stdout)
        else { throw TestFailure("no builds of base") }
        let first = try await daemon.jobctl("logs", "\(built.first?["id"]?.intValue ?? 0)")
        #expect(first.stdout.contains("level=shallow"), "the dependency's default: \(first.stdout)")
        let asked = try await daemon.jobctl("--json", "run", "top", "--build-deps", "--wait", "-p", "base:level=deep")
        #expect(asked.status == 0, "\(asked.stderr)")
        let builds = try JSONValue.parse(try await daemon.jobctl("--json", "builds", "base").stdout)
        guard case .array(let list) = builds else { throw TestFailure("builds: \(builds)") }
        #expect(list.count == 2)
        #expect(list.first?["config"]?["build"]?["parameters"]?["level"] == "deep", "\(builds.jsonText())")
    }

    @Test func aScheduleGivesItsValues() async throws {
        let daemon = try await DaemonProcess(config: Self.config + Self.ticking)
        var found: JSONValue?
        try await waitFor("a scheduled build of 'ticking'") {
            guard let result = try? await daemon.jobctl("--json", "builds", "ticking"),
                case .array(let list)? = try? JSONValue.parse(result.stdout)
            else { return false }
            found = list.first { $0["state"] == "SUCCESSFUL" }
            return found != nil
        }
        let build = try #require(found)
        #expect(build["config"]?["build"]?["parameters"]?["label"] == "scheduled")
        let logs = try await daemon.jobctl("logs", "\(build["id"]?.intValue ?? 0)")
        #expect(logs.stdout.contains("label=scheduled"), "\(logs.stdout)")
        let manual = try await daemon.jobctl("--json", "run", "ticking", "--wait")
        #expect(try JSONValue.parse(manual.stdout)["config"]?["build"]?["parameters"]?["label"] == "none")
    }

    /// The journal gets the build's lines and the daemon's messages with the value masked (a
    /// private journald, as in JournalTests).
    @Test func aSecretParameterStaysOutOfTheJournal() async throws {
        let directory = try TemporaryDirectory()
        chmod(directory.path, 0o755)
        try directory.write(
            "c.yaml",
            """
            jobs:
              - id: journaled
                command: 'echo "using $JOBCONTROL_PARAM_TOKEN"; echo "$JOBCONTROL_PARAMETERS" >&2; exit 1'
                parameters: {token: {type: string, secret: true}}
            """)
        let socket = directory.file("s.sock")
        let jobctl = "'\(Binaries.jobctl)' --socket '\(socket)'"
        let script =
            JournalTests.privateJournald(directory) + """
                '\(Binaries.jobcontrold)' --log-target journal --config '\(directory.file("c.yaml"))' \\
                    --storage 'sqlite://\(directory.file("db.sqlite3"))' --socket '\(socket)' & D=$!
                for i in $(seq 200); do \(jobctl) status >/dev/null 2>&1 && break; sleep 0.05; done
                \(jobctl) run journaled --wait -p token=\(Self.secret) || true
                kill -TERM $D; wait $D || true
                journalctl --sync
                journalctl --no-pager -o json > '\(directory.file("journal.json"))'
                echo finished
                """
        let result = try await runProcess(
            "/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/bash", "-c", script])
        #expect(result.stdout.contains("finished"), "\(result.stdout)\(result.stderr)")
        let journal = try String(contentsOfFile: directory.file("journal.json"), encoding: .utf8)
        #expect(journal.contains("using ***"), "the build's line is in the journal, masked")
        #expect(!journal.contains(Self.secret), "the journal holds the secret parameter")
    }
}
