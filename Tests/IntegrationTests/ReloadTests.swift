import Foundation
import JobControl
import Testing

/// Reloading a running daemon: a bad file changes nothing, a good one takes effect.
@Suite struct ReloadTests {
    static let original = """
        jobs:
          - id: old
            command: echo old
        """

    @Test func aBrokenReloadKeepsTheOldJobsAndAFixedOneAppliesTheNewJobs() async throws {
        let daemon = try await DaemonProcess(config: Self.original)
        let configFile = daemon.directory.file("jobcontrol.yaml")

        try "jobs:\n  - id: new\n    comand: echo new\n".write(toFile: configFile, atomically: true, encoding: .utf8)
        let refused = try await daemon.jobctl("reload")
        #expect(refused.status == 1)
        #expect(refused.stdout.contains("\(configFile):3:5: unknown key 'comand'"), "\(refused.stdout)")
        #expect(refused.stderr.contains("previous one keeps running"))
        // With --json, the refusal is JSON on stdout too (scripts parse it exactly then).
        let refusedJSON = try await daemon.jobctl("--json", "reload")
        #expect(refusedJSON.status == 1)
        let parsed = try JSONValue.parse(refusedJSON.stdout)
        #expect(parsed["reloaded"] == false, "\(refusedJSON.stdout)")
        #expect(
            parsed["errors"]?.arrayValue?.contains { $0.stringValue?.contains("unknown key 'comand'") == true } == true)
        let status = try await daemon.jobctl("status")
        #expect(status.stdout.contains("last reload failed"))
        #expect(try await daemon.jobctl("run", "old", "--wait").status == 0)
        #expect(try await daemon.jobctl("run", "new").status == 1)

        try "jobs:\n  - id: new\n    command: echo new\n".write(toFile: configFile, atomically: true, encoding: .utf8)
        kill(daemon.process.processIdentifier, SIGHUP)
        try await waitFor("the reload by SIGHUP") {
            (try? await daemon.jobctl("jobs").stdout.contains("new")) ?? false
        }
        let run = try await daemon.jobctl("run", "new", "--wait")
        #expect(run.status == 0)
        #expect(try await daemon.jobctl("run", "old").status == 1)
        // The removed job's history stays.
        #expect(try await daemon.jobctl("builds", "old").stdout.contains("SUCCESSFUL"))
        #expect(try await daemon.jobctl("status").stdout.contains("last reload ok"))
        #expect(try await daemon.stop() == 0)
    }

    @Test func checkConfigValidatesOffline() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let sample = root.appendingPathComponent("etc/jobcontrol/jobcontrol.yaml").path
        let good = try await runProcess(Binaries.jobctl, ["check-config", sample])
        #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
        #expect(good.stdout.contains("valid"))

        let directory = try TemporaryDirectory()
        try directory.write("bad.yaml", "workers: lots\njobs:\n  - {id: a, command: x, dependencies: [nope]}\n")
        let bad = try await runProcess(Binaries.jobctl, ["check-config", directory.file("bad.yaml")])
        #expect(bad.status == 78)
        #expect(bad.stdout.contains(directory.file("bad.yaml") + ":1:10: 'workers' must be an integer"))
        #expect(bad.stdout.contains("depends on unknown job 'nope'"))
        let json = try await runProcess(Binaries.jobctl, ["--json", "check-config", directory.file("bad.yaml")])
        let report = try JSONValue.parse(json.stdout)
        #expect(report["valid"] == false)
        #expect(report["errors"]?.arrayCount == 2)
    }
}

extension JSONValue {
    var arrayCount: Int? {
        if case .array(let values) = self { return values.count }
        return nil
    }
}
