import Foundation
import JobControl
import Testing

/// A secret's value reaches the command and nothing else: not the database, not `jobctl --json`,
/// not the daemon's own log.
@Suite struct SecretTests {
    static let value = "s3cr3t-VALUE-42"

    @Test func aSecretNeverLeavesTheBuild() async throws {
        // The command writes what it received to files outside the daemon's reach: the proof that
        // the real value (not `***`) reaches it.
        let side = try TemporaryDirectory()
        let daemon = try await DaemonProcess(
            config: """
                secret: {token: \(Self.value)}
                jobs:
                  - id: leaky
                    title: Tries hard to leak its secret
                    command: 'printf %s "$1" > "$SIDE/arg"; printf %s "$TOKEN" > "$SIDE/env"; echo "arg=$1 env=$TOKEN"; echo "stderr $TOKEN" >&2; jobctl progress 1 2 --status "$TOKEN"; exit 3'
                    args: [!secret token]
                    environment: {TOKEN: !secret token}
                """,
            environment: ["SIDE": side.path])
        let run = try await daemon.jobctl("--json", "run", "leaky", "--wait")
        #expect(run.status == 1)
        #expect(
            try String(contentsOfFile: side.file("arg"), encoding: .utf8) == Self.value,
            "the argument reaches the command")
        #expect(
            try String(contentsOfFile: side.file("env"), encoding: .utf8) == Self.value,
            "the environment reaches the command")
        let id = try #require(try JSONValue.parse(run.stdout)["id"]?.intValue)
        var outputs = [run.stdout, run.stderr]
        let views = [
            ["build", "\(id)"], ["logs", "\(id)"], ["jobs"], ["show", "leaky"], ["builds"], ["status"],
            ["progress", "\(id)"],
            ["next"],
        ]
        for arguments in views + views.map({ ["--json"] + $0 }) {
            let result = try await runProcess(Binaries.jobctl, ["--socket", daemon.socket] + arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            outputs += [result.stdout, result.stderr]
        }
        #expect(outputs.joined().contains("arg=*** env=***"))
        #expect(outputs.joined().contains("!secret token"))
        // The database while the daemon runs: in WAL mode the recent writes are in the -wal file.
        for suffix in ["", "-wal"] {
            let bytes = try #require(
                FileManager.default.contents(atPath: daemon.database + suffix), "no database file\(suffix)")
            #expect(bytes.range(of: Data(Self.value.utf8)) == nil, "the database file\(suffix) holds the secret")
        }
        try await daemon.stop()
        outputs.append(daemon.log)
        for (index, output) in outputs.enumerated() {
            #expect(!output.contains(Self.value), "output \(index) shows the secret: \(output)")
        }
        let checkpointed = try #require(FileManager.default.contents(atPath: daemon.database))
        #expect(
            checkpointed.range(of: Data(Self.value.utf8)) == nil,
            "the database holds the secret after the daemon stopped")
    }

    /// A secret of several lines (a private key) reaches the log one line per record: no line of
    /// it may show there, nor in the stderr tail of the build's exception.
    @Test func noLineOfASecretOfSeveralLinesReachesTheLog() async throws {
        let lines = [
            "-----BEGIN TEST KEY-----", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "q1w2e3r4t5y6u7i8o9p0",
            "-----END TEST KEY-----",
        ]
        let daemon = try await DaemonProcess(
            config: """
                secret:
                  key: "\(lines.joined(separator: "\\n"))\\n"
                jobs:
                  - id: prints-key
                    command: 'printf "%s\\n" "$KEY"; printf "%s\\n" "$KEY" >&2; exit 1'
                    environment: {KEY: !secret key}
                """)
        let run = try await daemon.jobctl("--json", "run", "prints-key", "--wait")
        #expect(run.status == 1)
        let id = try #require(try JSONValue.parse(run.stdout)["id"]?.intValue)
        let logs = try await daemon.jobctl("logs", "\(id)")
        let build = try await daemon.jobctl("--json", "build", "\(id)")
        #expect(logs.stdout.contains("***"), "\(logs.stdout)")
        for output in [run.stdout, logs.stdout, build.stdout] {
            for line in lines {
                #expect(!output.contains(line), "\(line) shows: \(output)")
            }
        }
        try await daemon.stop()
    }
}
