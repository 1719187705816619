import Foundation
import JobControl
import Testing

/// Examples/reports-daemon, a package of its own that depends on this repository by path,
/// registers Swift functions and builds its own jobcontrold (`JobControlDaemonMain`), and one of
/// its builds runs through jobctl. scripts/test.sh builds the example before the tests (in this
/// package's scratch folder, which a build inside `swift test` cannot use: `swift test` holds
/// its lock) and names the binary in JOBCONTROL_TEST_EXAMPLE_BINARY; without it, the test builds
/// the example in its own folder, at the lowest CPU priority (it runs beside every other suite,
/// some of which time answers). Not in ``ExclusiveTests``: there, running three builds of the
/// prebuilt daemon waited its turn and made the serialized suites, the suite's longest path,
/// 30–45 s longer.
@Suite struct ExamplePackageTests {
    static let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Examples/reports-daemon").path

    @Test func aPackageBuildsItsOwnDaemonWithItsFunctions() async throws {
        let binary: String
        if let prebuilt = ProcessInfo.processInfo.environment["JOBCONTROL_TEST_EXAMPLE_BINARY"] {
            binary = prebuilt
        } else {
            let built = try await runProcess(
                "/usr/bin/env", ["nice", "-n", "19", "swift", "build", "--package-path", Self.package],
                timeout: .seconds(900))
            try #require(
                built.status == 0,
                "swift build of the example: \(built.stdout.suffix(2000)) \(built.stderr.suffix(2000))")
            binary = Self.package + "/.build/debug/reports-jobcontrold"
        }
        try #require(FileManager.default.isExecutableFile(atPath: binary), "no example daemon at \(binary)")
        let daemon = try await DaemonProcess(
            config: """
                jobs:
                  - {id: daily, function: 'reports:daily', kwargs: {day: '2026-12-01'}}
                  - {id: broken, function: 'reports:broken'}
                  - {id: shell, command: 'echo the built-ins are there too'}
                """, executable: binary)
        let storage = try StorageFactory.open(url: "sqlite://" + daemon.database)
        #expect(try await daemon.jobctl("run", "daily", "--wait").status == 0)
        let daily = try #require(try storage.getBuild(1))
        #expect(daily.retval?["day"] == "2026-12-01" && daily.retval?["sections"] == 3)
        #expect(try storage.getBuildProgressInfo(1).contains { $0.group.name == "sections" && $0.current == 3 })
        #expect(
            try storage.iterLogMessages(LogQuery(buildID: 1)).contains {
                $0.message == "section returns of 2026-12-01 done"
            })

        // A thrown Swift error: its type, its description, and the place it carries.
        #expect(try await daemon.jobctl("run", "broken", "--wait").status == 1)
        let broken = try #require(try storage.getBuild(2))
        #expect(
            broken.exception?["type"]?.stringValue?.hasSuffix("ReportError") == true, "\(broken.exception ?? .null)"
        )
        #expect(broken.exception?["message"] == "the report source is unreachable")
        let traceback = try #require(broken.exceptionTraceback)
        let frame = try #require(TracebackInfo(json: traceback).frames.first)
        #expect(frame.filename.hasSuffix("main.swift") && frame.lineNumber != nil, "\(frame)")
        #expect(try await daemon.jobctl("run", "shell", "--wait").status == 0)
        try await daemon.stop()
    }
}
