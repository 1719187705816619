import Foundation
import JobControl
import JobControlClient
import JobControlDaemon
import JobControlProtocol
import Logging
import Testing

/// The daemon library run inside the test process, spoken to as a generic Varlink client would.
@Suite struct InProcessDaemonTests {
    func withDaemon(_ body: (String) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        try directory.write("c.yaml", "jobs:\n  - {id: a, command: 'echo one; echo two'}\n")
        let socket = directory.file("d.sock")
        let daemon = Daemon(
            options: DaemonOptions(configFile: directory.file("c.yaml"), storage: "sqlite::memory:", socket: socket),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let (ready, readyContinuation) = AsyncStream<Void>.makeStream()
        let running = Task { try await daemon.run(onReady: { readyContinuation.yield() }) }
        for await _ in ready { break }
        do {
            try await body(socket)
        } catch {
            daemon.shutdown()
            _ = try? await running.value
            throw error
        }
        daemon.shutdown()
        try await running.value
        #expect(!FileManager.default.fileExists(atPath: socket))
    }

    @Test func introspection() async throws {
        try await withDaemon { socket in
            try await VarlinkConnection.withConnection(path: socket) { connection in
                let info = try await connection.call("org.varlink.service.GetInfo")
                #expect(info["interfaces"] == ["io.jobcontrol.Build", "io.jobcontrol.Manager", "org.varlink.service"])
                let description = try await connection.call(
                    "org.varlink.service.GetInterfaceDescription", ["interface": "io.jobcontrol.Manager"])
                #expect(
                    description["description"]?.stringValue?.contains(
                        "method RunJob(job: string, force: ?bool, pins: ?[string]int, build_deps: ?bool, build_revdeps: ?bool, parameters: ?object, dependency_parameters: ?[string]object)"
                    ) == true)
            }
        }
    }

    @Test func errorsAreTypedAndTheConnectionStaysUsable() async throws {
        try await withDaemon { socket in
            try await VarlinkConnection.withConnection(path: socket) { connection in
                func expectError(_ method: String, _ parameters: [String: JSONValue], _ name: String) async {
                    do {
                        _ = try await connection.call(method, parameters)
                        Issue.record("\(method) should fail with \(name)")
                    } catch ClientError.remote(let error) {
                        #expect(error.name == name)
                    } catch {
                        Issue.record("unexpected \(error)")
                    }
                }
                await expectError("io.jobcontrol.Manager.Nope", [:], "org.varlink.service.MethodNotFound")
                await expectError("com.example.Other.X", [:], "org.varlink.service.InterfaceNotFound")
                await expectError("io.jobcontrol.Manager.GetBuild", ["id": "x"], "org.varlink.service.InvalidParameter")
                await expectError("io.jobcontrol.Manager.RunJob", [:], "org.varlink.service.InvalidParameter")
                await expectError("io.jobcontrol.Manager.RunJob", ["job": "zz"], "io.jobcontrol.Manager.NoSuchJob")
                await expectError("io.jobcontrol.Manager.GetLogs", ["build": 99], "io.jobcontrol.Manager.NoSuchBuild")
                await expectError(
                    "io.jobcontrol.Manager.Calendar", ["expression": "daily", "iterations": -1],
                    "org.varlink.service.InvalidParameter")
                let status = try await connection.call("io.jobcontrol.Manager.Status")
                #expect(status["jobs"] == 1)
            }
        }
    }

    /// As `jobctl calendar --iterations N` and systemd-analyze: N elapses, none for 0.
    @Test func calendarGivesAsManyElapsesAsAsked() async throws {
        try await withDaemon { socket in
            try await VarlinkConnection.withConnection(path: socket) { connection in
                for (asked, given) in [(0, 0), (1, 1), (3, 3), (5000, 1000)] {
                    let reply = try await connection.call(
                        "io.jobcontrol.Manager.Calendar",
                        [
                            "expression": "*:*:0/10", "base_time": "2026-01-01 00:00:00 UTC",
                            "iterations": .int(Int64(asked)),
                        ])
                    #expect(reply["normalized"] == "*-*-* *:*:00/10", "\(asked)")
                    #expect(reply["next"]?.arrayValue?.count == given, "\(asked)")
                }
            }
        }
    }

    @Test func runJobWithMoreStreamsCreatedThenFinished() async throws {
        try await withDaemon { socket in
            try await VarlinkConnection.withConnection(path: socket) { connection in
                var states: [String] = []
                try await connection.callMore("io.jobcontrol.Manager.RunJob", ["job": "a"]) { reply in
                    states.append(reply["build"]?["state"]?.stringValue ?? "?")
                }
                #expect(states.count == 2)
                #expect(states.last == "SUCCESSFUL")
                let logs = try await connection.call("io.jobcontrol.Manager.GetLogs", ["build": 1, "min_level": 20])
                guard case .array(let records)? = logs["logs"] else { throw TestFailure("no logs") }
                #expect(records.compactMap { $0["message"]?.stringValue }.prefix(2) == ["one", "two"])
            }
        }
    }
}
