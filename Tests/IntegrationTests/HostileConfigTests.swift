import Foundation
import Testing

/// Configuration files that used to stop the daemon, checked with the real `jobcontrold` (linked
/// with the system's libyaml, as installed): each is a diagnostic with its place and exit status
/// 78, never a crash.
@Suite struct HostileConfigTests {
    @Test func deepNestingAnOverflowingNumberAndAnAliasBombAreReported() async throws {
        let directory = try TemporaryDirectory()
        var bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 {
            bomb +=
                "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ", ")
                + "]\n"
        }
        var chain = "a0: &a0 " + String(repeating: "[", count: 10) + "x" + String(repeating: "]", count: 10) + "\n"
        for level in 1...10 {
            chain +=
                "a\(level): &a\(level) " + String(repeating: "[", count: 10) + "*a\(level - 1)"
                + String(repeating: "]", count: 10) + "\n"
        }
        let cases: [(name: String, text: String, expected: String)] = [
            ("chain", "jobs: []\n" + chain, "chain.yaml:11:"),
            (
                "minimum", "workers: --1:-9223372036854775748\njobs: []\n",
                "minimum.yaml:1:10: 'workers' must be an integer"
            ),
            (
                "deep", "jobs: []\nx: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000),
                "deep.yaml:2:103: YAML syntax error: nested more than 100 levels deep"
            ),
            (
                "sexagesimal", "workers: 1:1:1:1:1:1:1:1:1:1:1:1:1\njobs: []\n",
                "sexagesimal.yaml:1:10: 'workers' is out of range: 1:1:1:1:1:1:1:1:1:1:1:1:1"
            ),
            (
                "bomb", "jobs: []\n" + bomb,
                "bomb.yaml:8:10: YAML syntax error: more than 1000000 values once its aliases are expanded"
            ),
        ]
        for (name, text, expected) in cases {
            try directory.write(name + ".yaml", text)
            let check = try await runProcess(
                Binaries.jobcontrold, ["--check-config", "--config", directory.file(name + ".yaml")],
                timeout: .seconds(60))
            #expect(check.status == 78, "\(name): \(check.status) \(check.stderr)")
            #expect((check.stdout + check.stderr).contains(expected), "\(name): \(check.stdout)\(check.stderr)")
        }
    }
}
