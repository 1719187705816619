import Foundation
import JobControl
import Testing

/// A running daemon under garbage, an endless message and hundreds of idle connections: it keeps
/// answering, and its memory stays bounded.
@Suite struct HostileClientTests {
    /// A raw connection to the socket. (`@unchecked Sendable`: its descriptor never changes, and
    /// a test uses it from one thread at a time.)
    final class RawSocket: @unchecked Sendable {
        let descriptor: Int32

        init(path: String) throws {
            descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { buffer in
                for (index, byte) in path.utf8.enumerated() where index < buffer.count - 1 { buffer[index] = byte }
            }
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard connected == 0 else { throw TestFailure("connect failed: errno \(errno)") }
            // A bound for a broken daemon only: a daemon starved of CPU by the other suites may
            // take seconds to answer (10 s was close).
            var timeout = timeval(tv_sec: 60, tv_usec: 0)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        /// Writes everything, or stops at the first error; returns how much was written.
        @discardableResult
        func write(_ bytes: [UInt8]) -> Int {
            var written = 0
            while written < bytes.count {
                let count = bytes[written...].withUnsafeBytes {
                    send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                }
                if count <= 0 { break }
                written += count
            }
            return written
        }

        /// Reads until the peer closes, or `messages` NUL-terminated messages have come, or the timeout.
        func readAll(messages: Int = .max, limit: Int = 1 << 20) -> [UInt8] {
            var result: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while result.count < limit, result.filter({ $0 == 0 }).count < messages {
                let count = recv(descriptor, &buffer, buffer.count, 0)
                if count <= 0 { break }
                result += buffer[0..<count]
            }
            return result
        }

        deinit { close(descriptor) }
    }

    static func rssKilobytes(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        return status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { Int($0.split(separator: " ")[1]) } ?? 0
    }

    @Test func garbageEndlessMessagesAndIdleConnectionsDoNotHurtTheDaemon() async throws {
        let daemon = try await DaemonProcess(config: "jobs:\n  - {id: hello, command: 'true'}\n")
        let pid = daemon.process.processIdentifier
        #expect(try await daemon.jobctl("status").status == 0)
        let baseline = Self.rssKilobytes(pid)

        // Garbage: an error reply naming the problem, then the connection is closed.
        let garbage = try RawSocket(path: daemon.socket)
        garbage.write(Array("\u{01}\u{02}not json at all{{{".utf8) + [0] + Array("more".utf8) + [0])
        let reply = String(decoding: garbage.readAll().prefix { $0 != 0 }, as: UTF8.self)
        #expect(reply.contains("\"error\":\"org.varlink.service.InvalidParameter\""), "\(reply)")
        #expect(reply.contains("not valid JSON"), "\(reply)")

        // Wrong types and unknown methods: typed errors, connection stays usable.
        let typed = try RawSocket(path: daemon.socket)
        typed.write(Array(#"{"method":"io.jobcontrol.Manager.GetBuild","parameters":{"id":"x"}}"#.utf8) + [0])
        typed.write(Array(#"{"method":"io.jobcontrol.Manager.Explode","parameters":{}}"#.utf8) + [0])
        typed.write(Array(#"{"method":"io.jobcontrol.Manager.Status"}"#.utf8) + [0])
        let replies = typed.readAll(messages: 3).split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        #expect(replies.count == 3)
        #expect(replies.first?.contains("org.varlink.service.InvalidParameter") == true)
        #expect(replies.dropFirst().first?.contains("org.varlink.service.MethodNotFound") == true)
        #expect(replies.last?.contains("\"version\"") == true)

        // 64 MiB without a NUL: refused with RequestTooLarge and disconnected long before the
        // end (a daemon that merely stopped reading would leave the connection open: no EOF).
        let endless = try RawSocket(path: daemon.socket)
        endless.write(Array(#"{"method":"io.jobcontrol.Manager.Status","parameters":{"x":""#.utf8))
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)
        var sent = 0
        for _ in 0..<64 {
            let written = endless.write(chunk)
            sent += written
            if written < chunk.count { break }
        }
        #expect(sent < 8 << 20, "the daemon read \(sent) bytes of a message it should refuse at 64 KiB")
        let refusal = endless.readAll()
        #expect(String(decoding: refusal, as: UTF8.self).contains("io.jobcontrol.Manager.RequestTooLarge"))
        #expect(
            recv(endless.descriptor, nil, 0, Int32(MSG_DONTWAIT)) == 0, "the connection is closed after the refusal")

        // A second "method" key (JSON keeps the last) does not smuggle a Manager call past the
        // small limit on the first one's word.
        let smuggled = try RawSocket(path: daemon.socket)
        let padding = String(repeating: "x", count: 100_000)
        smuggled.write(
            Array(
                #"{"method":"io.jobcontrol.Build.Log","method":"io.jobcontrol.Manager.GetJob","parameters":{"job":"hello","pad":"\#(padding)"}}"#
                    .utf8) + [0])
        let smuggledReply = String(decoding: smuggled.readAll(messages: 1), as: UTF8.self)
        #expect(smuggledReply.contains("io.jobcontrol.Manager.RequestTooLarge"), "\(smuggledReply.prefix(300))")

        // Hundreds of idle connections: the daemon still answers.
        var idle: [RawSocket] = []
        for _ in 0..<300 { idle.append(try RawSocket(path: daemon.socket)) }
        let status = try await daemon.jobctl("status")
        #expect(status.status == 0, "\(status.stderr)")
        let run = try await daemon.jobctl("run", "hello", "--wait")
        #expect(run.status == 0)
        let grown = Self.rssKilobytes(pid) - baseline
        #expect(grown < 64 * 1024, "RSS grew by \(grown) KB")
        idle.removeAll()
        #expect(try await daemon.jobctl("status").status == 0)
        try await daemon.stop()
    }

    /// A client that starts a message and then sends nothing is disconnected after 30 s (six
    /// ticks of the connection guard), holding nothing meanwhile; a whole call before it is
    /// answered.
    @Test func aStalledPartialMessageIsDroppedAfterThirtySeconds() async throws {
        let daemon = try await DaemonProcess(config: "jobs:\n  - {id: hello, command: 'true'}\n")
        let stalled = try RawSocket(path: daemon.socket)
        var timeout = timeval(tv_sec: 90, tv_usec: 0)
        setsockopt(stalled.descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        stalled.write(
            Array(#"{"method":"io.jobcontrol.Manager.Status"}"#.utf8) + [0] + Array(#"{"method":"io.jo"#.utf8))
        let started = ContinuousClock.now
        // The Status reply, then EOF when the guard closes: 30 s, on a thread of its own (not one
        // of the two cooperative threads every suite shares).
        let received = await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: stalled.readAll()) }.start()
        }
        let elapsed = ContinuousClock.now - started
        #expect(String(decoding: received, as: UTF8.self).contains("\"version\""))
        #expect(recv(stalled.descriptor, nil, 0, Int32(MSG_DONTWAIT)) == 0, "closed by the daemon, not timed out here")
        // Load can only make it later; earlier than 25 s would be another rule closing it.
        #expect(elapsed >= .seconds(25) && elapsed < .seconds(85), "closed after \(elapsed)")
        #expect(try await daemon.jobctl("status").status == 0)
        try await daemon.stop()
    }
}
