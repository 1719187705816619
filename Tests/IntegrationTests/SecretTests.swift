import Foundation
import JobControl
import Testing

/// A secret's value reaches the command and nothing else: not the database, not `jobctl --json`,
/// not the daemon's own log.
@Suite struct SecretTests {
    static let value = "s3cr3t-VALUE-42"

    @Test func aSecretNeverLeavesTheBuild() async throws {
        let daemon = try await DaemonProcess(config: """
            secret: {token: \(Self.value)}
            jobs:
              - id: leaky
                title: Tries hard to leak its secret
                command: 'echo "arg=$1 env=$TOKEN"; echo "stderr $TOKEN" >&2; exit 3'
                args: [!secret token]
                environment: {TOKEN: !secret token}
            """)
        let run = try await daemon.jobctl("--json", "run", "leaky", "--wait")
        #expect(run.status == 1)
        let id = try #require(try JSONValue.parse(run.stdout)["id"]?.intValue)
        var outputs = [run.stdout, run.stderr]
        for arguments in [["--json", "build", "\(id)"], ["--json", "logs", "\(id)"], ["--json", "jobs"], ["--json", "show", "leaky"], ["show", "leaky"], ["logs", "\(id)"], ["build", "\(id)"]] {
            let result = try await runProcess(Binaries.jobctl, ["--socket", daemon.socket] + arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            outputs += [result.stdout, result.stderr]
        }
        #expect(outputs.joined().contains("arg=*** env=***"))
        #expect(outputs.joined().contains("!secret token"))
        try await daemon.stop()
        outputs.append(daemon.log)
        for (index, output) in outputs.enumerated() {
            #expect(!output.contains(Self.value), "output \(index) shows the secret: \(output)")
        }
        for suffix in ["", "-wal", "-shm"] {
            guard let bytes = FileManager.default.contents(atPath: daemon.database + suffix) else { continue }
            #expect(bytes.range(of: Data(Self.value.utf8)) == nil, "the database file\(suffix) holds the secret")
        }
    }
}
