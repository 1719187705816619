import FoundationEssentials
import Glibc
import JobControlModel
import JobControlProtocol
import SystemPackage

/// Calls over a plain blocking Unix socket: what a short-lived `jobctl` command needs. Starting
/// NIO's event loops (threads, channel pipeline, their generic types) cost about 4 ms of a 10 ms
/// `jobctl status`, more than the exchange itself (measured, docs/performance.md). A command that
/// waits for one stream of replies (`run --wait`) reads it here too; what needs concurrency
/// (following a log while watching progress) uses ``VarlinkConnection``.
public enum VarlinkBlockingCall {
    /// The largest reply accepted, as for ``VarlinkConnection``.
    public static let maxReply = VarlinkFrameDecoder.defaultMaxMessageBytes

    /// Connects to `path`, calls `method`, and returns the reply's parameters; a Varlink error is
    /// thrown as ``ClientError/remote(_:)``.
    ///
    /// `timeout` bounds the wait for the daemon to take the call and answer it (connecting,
    /// sending, the first reply): past it, ``ClientError/noAnswer(seconds:)``. Nil waits for ever.
    public static func call(
        path: String, method: String, parameters: [String: JSONValue] = [:], timeout: Duration? = nil
    ) throws -> [String: JSONValue] {
        var result: [String: JSONValue] = [:]
        try exchange(path: path, VarlinkCall(method: method, parameters: parameters), timeout: timeout) { reply in
            result = reply.parameters
            return false
        }
        return result
    }

    /// Connects to `path` and calls `method` with `more`: `onReply` gets each reply's parameters
    /// until one does not continue; a Varlink error is thrown as ``ClientError/remote(_:)``.
    /// `timeout` bounds the wait for the first reply only: the later ones come as the daemon has
    /// them (a build's end, however long it runs).
    public static func callMore(
        path: String, method: String, parameters: [String: JSONValue] = [:], timeout: Duration? = nil,
        onReply: ([String: JSONValue]) throws -> Void
    ) throws {
        try exchange(path: path, VarlinkCall(method: method, parameters: parameters, more: true), timeout: timeout) {
            reply in
            try onReply(reply.parameters)
            return reply.continues
        }
    }

    /// Sends `call` and hands each reply to `handle` while it returns true.
    private static func exchange(
        path: String, _ call: VarlinkCall, timeout: Duration?, _ handle: (VarlinkReply) throws -> Bool
    ) throws {
        let limit = timeout.map { Deadline(timeout: $0) }
        let descriptor = try connect(path, limit: limit)
        defer { try? descriptor.close() }
        let message = Array(call.json.jsonText().utf8) + [0]
        // send(2) with MSG_NOSIGNAL: a daemon that drops the connection makes this an error
        // (EPIPE), not a SIGPIPE that kills the client without a word.
        var sent = 0
        // A failed send still reads: a daemon that will not serve the connection (too many of
        // this user's are open) writes why before it closes, and that beats "connection lost".
        var sendFailure: String?
        while sent < message.count {
            let count = message[sent...].withUnsafeBytes {
                send(descriptor.rawValue, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN, let limit { throw ClientError.noAnswer(seconds: limit.seconds) }
                sendFailure = "cannot send the call: \(String(cString: strerror(errno)))"
                break
            }
            sent += count
        }
        var reader = MessageReader(descriptor: descriptor, sendFailure: sendFailure, limit: limit)
        while true {
            let bytes = try reader.next()
            // Answered: what follows (a streamed call's later replies) comes when it comes.
            if reader.limit != nil {
                reader.limit = nil
                Deadline.clear(SO_RCVTIMEO, on: descriptor.rawValue)
            }
            let decoded: VarlinkReply
            do {
                decoded = try VarlinkReply(json: JSONValue.parse(String(decoding: bytes, as: UTF8.self)))
            } catch {
                throw ClientError.protocolError("the reply is not a Varlink message: \(error)")
            }
            if let error = decoded.error {
                throw ClientError.remote(VarlinkError(error, parameters: decoded.parameters))
            }
            guard try handle(decoded) else { return }
        }
    }

    /// The NUL-terminated messages read from a socket, one at a time; bytes read past a message's
    /// end are kept for the next.
    private struct MessageReader {
        let descriptor: FileDescriptor
        let sendFailure: String?
        /// Until the first reply: when the daemon must have answered.
        var limit: Deadline?
        var buffer: [UInt8] = []
        /// How much of `buffer` is known to hold no NUL.
        var scanned = 0

        init(descriptor: FileDescriptor, sendFailure: String?, limit: Deadline?) {
            self.descriptor = descriptor
            self.sendFailure = sendFailure
            self.limit = limit
        }

        mutating func next() throws -> [UInt8] {
            while true {
                if let end = buffer[scanned...].firstIndex(of: 0) {
                    let message = Array(buffer[..<end])
                    buffer.removeSubrange(...end)
                    scanned = 0
                    return message
                }
                scanned = buffer.count
                guard buffer.count <= maxReply else {
                    throw ClientError.protocolError("reply larger than \(maxReply) bytes")
                }
                // Read into memory that is not zeroed first: zeroing a 64 KiB chunk was 7 % of the
                // instructions of a one-shot `jobctl status`.
                if let limit { try limit.arm(SO_RCVTIMEO, on: descriptor.rawValue) }
                let count = try withUnsafeTemporaryAllocation(byteCount: 64 * 1024, alignment: 1) { chunk in
                    let count: Int
                    do {
                        count = try descriptor.read(into: chunk)
                    } catch Errno.resourceTemporarilyUnavailable where limit != nil {
                        throw ClientError.noAnswer(seconds: limit?.seconds ?? 0)
                    } catch {
                        throw ClientError.connectionLost(sendFailure ?? "cannot read the reply: \(error)")
                    }
                    buffer += chunk[..<count]
                    return count
                }
                guard count > 0 else {
                    throw ClientError.connectionLost(sendFailure ?? "the daemon closed the connection without replying")
                }
            }
        }
    }

    private static func connect(_ path: String, limit: Deadline?) throws -> FileDescriptor {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else {
            throw ClientError.cannotConnect(path: path, reason: "the path is longer than \(capacity - 1) bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
        let raw = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard raw >= 0 else { throw ClientError.cannotConnect(path: path, reason: String(cString: strerror(errno))) }
        // A Unix socket's connect waits (for room in the daemon's backlog) as long as its send
        // timeout allows; so does a send.
        if let limit {
            do { try limit.arm(SO_SNDTIMEO, on: raw) } catch {
                close(raw)
                throw error
            }
        }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(raw, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            let failure = errno
            let reason = String(cString: strerror(failure))
            close(raw)
            if failure == EAGAIN, let limit { throw ClientError.noAnswer(seconds: limit.seconds) }
            throw ClientError.cannotConnect(path: path, reason: reason)
        }
        return FileDescriptor(rawValue: raw)
    }
}

/// When the daemon must have answered a call, as socket timeouts (`SO_RCVTIMEO`, `SO_SNDTIMEO`)
/// of what is left of it. Plain nanoseconds of `CLOCK_MONOTONIC`: `ContinuousClock.Instant`'s
/// metadata, built at run time, was 5 % of a `jobctl status`'s instructions.
struct Deadline {
    let seconds: Double
    let end: Int64

    init(timeout: Duration) {
        let (whole, attoseconds) = timeout.components
        seconds = Double(whole) + Double(attoseconds) * 1e-18
        end = Self.now() &+ whole &* 1_000_000_000 &+ attoseconds / 1_000_000_000
    }

    static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }

    /// Sets `option` to the time left; none left is ``ClientError/noAnswer(seconds:)``.
    func arm(_ option: Int32, on descriptor: Int32) throws {
        let left = end - Self.now()
        guard left > 0 else { throw ClientError.noAnswer(seconds: seconds) }
        let microseconds = max(1, left / 1000)
        var value = timeval(tv_sec: Int(microseconds / 1_000_000), tv_usec: Int(microseconds % 1_000_000))
        setsockopt(descriptor, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    /// No limit any more on `option`.
    static func clear(_ option: Int32, on descriptor: Int32) {
        var value = timeval(tv_sec: 0, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size))
    }
}
