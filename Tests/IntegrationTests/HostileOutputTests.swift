import Foundation
import JobControl
import JobControlClient
import Testing

extension ExclusiveTests {
    /// Whatever a build prints, it succeeds, its log reads back completely (long lines as the
    /// partial records they were cut into, joined again by `jobctl logs`), no reply exceeds the
    /// message limit, and the daemon's memory stays bounded.
    @Suite(.serialized) struct HostileOutputTests {
        static let config = """
            workers: 2
            jobs:
              - id: random
                command: 'head -c 5000000 /dev/urandom | tee "$SIDE/random.bin"'
              - id: long-line
                command: ['python3', '-c', 'import sys; sys.stdout.write("x" * 50_000_000); print(); print("short")']
              - id: many-lines
                command: 'seq 1 300000'
              - id: capped
                command: 'seq 1 100000'
                log_limit: 64K
            """

        /// The daemon's peak RSS while these builds run and their logs are read: a 50 MB line is
        /// never held whole, and a reader holds one page (256 KiB of JSON) at a time. Measured about
        /// 90 MB for a debug build; the bound leaves room for allocator slack.
        static let peakRSSBound = 200 << 20

        @Test func hostileOutputIsStoredCompletelyInSmallRecords() async throws {
            let side = try TemporaryDirectory()
            let daemon = try await DaemonProcess(config: Self.config, environment: ["SIDE": side.path])
            for job in ["random", "long-line", "many-lines", "capped"] {
                let run = try await daemon.jobctl("run", job, "--wait")
                #expect(run.status == 0, "\(job): \(run.stdout)")
            }
            let storage = try StorageFactory.open(url: "sqlite://" + daemon.database)

            // 50 MB without a newline, then a short line: two lines again, every record small.
            let long = try storage.iterLogMessages(LogQuery(buildID: 2))
            #expect(long.allSatisfy { $0.message.utf8.count <= LogRecord.maxMessageBytes })
            #expect(long.count > 1000 && long.dropLast(2).allSatisfy(\.partial))
            let printed = try await daemon.jobctl("logs", "2")
            #expect(printed.status == 0, "\(printed.stderr)")
            let lines = printed.stdout.split(separator: "\n")
            #expect(lines.count == 2)
            #expect(lines.first?.hasSuffix(" stdout: " + String(repeating: "x", count: 50_000_000)) == true)
            #expect(lines.last?.hasSuffix(" stdout: short") == true)

            // 300,000 lines, all of them, in order.
            let many = try await daemon.jobctl("logs", "3")
            let numbers = many.stdout.split(separator: "\n").map {
                $0.split(separator: " ").last.map(String.init) ?? ""
            }
            #expect(numbers == (1...300_000).map(String.init))

            // Random bytes: one record per line of output (long ones cut into partial pieces), and
            // invalid UTF-8 replaced by U+FFFD, visibly.
            let random = try Data(contentsOf: URL(fileURLWithPath: side.file("random.bin")))
            let expectedLines =
                random.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).count
                - (random.last == UInt8(ascii: "\n") ? 1 : 0)
            let stored = try storage.iterLogMessages(LogQuery(buildID: 1))
            #expect(stored.filter { !$0.partial }.count == expectedLines)
            #expect(stored.contains { $0.message.contains("\u{FFFD}") })
            #expect(try await daemon.jobctl("logs", "1").status == 0)

            // Past log_limit: output is counted, not stored, and one record says how much.
            let capped = try storage.iterLogMessages(LogQuery(buildID: 4))
            #expect(capped.dropLast().map(\.message.utf8.count).reduce(0, +) <= 64 * 1024)
            #expect(capped.last?.message.contains("log_limit 64K reached") == true, "\(capped.last?.message ?? "")")

            // Followed and paged reads stay under the message limit (the client refuses larger ones).
            let followed = try await daemon.jobctl("--json", "logs", "--follow", "2")
            #expect(followed.status == 0, "\(followed.stderr)")
            let page = try await VarlinkConnection.withConnection(path: daemon.socket) { connection in
                try await connection.call("io.jobcontrol.Manager.GetLogs", ["build": 2])
            }
            #expect(page["next_after_id"]?.intValue != nil, "a first page of a 50 MB log says where to go on")

            let peak = try Self.peakRSS(of: daemon.process.processIdentifier)
            #expect(peak < Self.peakRSSBound, "daemon peak RSS \(peak / 1_048_576) MiB")
            try await daemon.stop()
        }

        /// VmHWM of a process, in bytes.
        static func peakRSS(of pid: Int32) throws -> Int {
            let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") })
            let kilobytes = try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
            return kilobytes * 1024
        }
    }
}
