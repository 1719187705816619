import FoundationEssentials
import Glibc
import JobControlModel
import JobControlProtocol
import NIOCore
import NIOPosix

/// Why a call to the daemon did not get an answer, or got an error.
public enum ClientError: Error, Sendable, CustomStringConvertible {
    /// Nothing answers at the socket path.
    case cannotConnect(path: String, reason: String)
    /// The daemon answered with a Varlink error.
    case remote(VarlinkError)
    /// The connection broke or the daemon's reply made no sense.
    case protocolError(String)
    /// The daemon went away in the middle of the conversation (it stopped, crashed, or dropped
    /// this client): like ``cannotConnect(path:reason:)``, the daemon cannot be reached.
    case connectionLost(String)
    /// The daemon took no call, or gave no answer, within the time allowed (`JOBCONTROL_TIMEOUT`
    /// for jobctl): it may be stopped, or too busy.
    case noAnswer(seconds: Double)

    public var description: String {
        switch self {
        case .cannotConnect(let path, let reason) where reason == String(cString: strerror(EACCES)):
            // The daemon may well be running: this user may not open its socket (mode 0660).
            return
                "cannot connect to jobcontrold at \(path): \(reason). This user may not use the daemon's socket: it is open to the daemon's user and the group access.socket_group names."
        case .cannotConnect(let path, let reason):
            return
                "cannot connect to jobcontrold at \(path): \(reason). Is the daemon running? Use --socket PATH or set JOBCONTROL_SOCKET if it listens elsewhere."
        case .remote(let error):
            return error.message ?? error.parameters["message"]?.stringValue ?? error.description
        case .protocolError(let message):
            return "protocol error: \(message)"
        case .connectionLost(let reason):
            return "lost the connection to jobcontrold: \(reason). Is the daemon still running?"
        case .noAnswer(let seconds):
            let shown = seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
            return
                "jobcontrold did not answer within \(shown) s: it may be stopped or overloaded (systemctl status jobcontrold). The call may still take effect. Set JOBCONTROL_TIMEOUT=SECONDS to wait longer (0: no limit)."
        }
    }
}

/// A Varlink connection to the daemon's control socket. Use it inside ``withConnection(path:_:)``,
/// which closes it afterwards; calls on one connection are sequential.
public final class VarlinkConnection {
    typealias Channel = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>

    init(inbound: NIOAsyncChannelInboundStream<ByteBuffer>, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) {
        self.inbound = inbound.makeAsyncIterator()
        self.outbound = outbound
    }

    /// Connects to `path`, runs `body`, and closes the connection.
    public static func withConnection<T>(path: String, _ body: (VarlinkConnection) async throws -> T) async throws -> T
    {
        let channel: Channel
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(unixDomainSocketPath: path) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(VarlinkFrameDecoder()))
                        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(VarlinkFrameEncoder()))
                        return try Channel(wrappingChannelSynchronously: channel)
                    }
                }
        } catch let error as IOError {
            throw ClientError.cannotConnect(path: path, reason: String(cString: strerror(error.errnoCode)))
        } catch {
            throw ClientError.cannotConnect(path: path, reason: "\(error)")
        }
        return try await channel.executeThenClose { inbound, outbound in
            try await body(VarlinkConnection(inbound: inbound, outbound: outbound))
        }
    }

    /// Calls `method` and returns the reply's parameters; a Varlink error is thrown as
    /// ``ClientError/remote(_:)``.
    public func call(_ method: String, _ parameters: [String: JSONValue] = [:]) async throws -> [String: JSONValue] {
        try await send(VarlinkCall(method: method, parameters: parameters))
        let reply = try await nextReply()
        return reply.parameters
    }

    /// Calls `method` with `more`, handing each reply's parameters to `onReply` until the last.
    public func callMore(
        _ method: String, _ parameters: [String: JSONValue] = [:],
        onReply: ([String: JSONValue]) async throws -> Void
    ) async throws {
        try await send(VarlinkCall(method: method, parameters: parameters, more: true))
        while true {
            let reply = try await nextReply()
            try await onReply(reply.parameters)
            if !reply.continues { return }
        }
    }

    private func send(_ call: VarlinkCall) async throws {
        do {
            try await outbound.write(call.json.messageBuffer())
        } catch {
            throw ClientError.connectionLost("cannot send the call: \(error)")
        }
    }

    private func nextReply() async throws -> VarlinkReply {
        let next: ByteBuffer?
        do {
            next = try await inbound.next()
        } catch let error as VarlinkFramingError {
            throw ClientError.protocolError("\(error)")
        } catch {
            throw ClientError.connectionLost("\(error)")
        }
        guard let frame = next else {
            throw ClientError.connectionLost("the daemon closed the connection without replying")
        }
        let reply = try VarlinkReply(json: JSONValue.decodeMessage(frame))
        if let error = reply.error {
            throw ClientError.remote(VarlinkError(error, parameters: reply.parameters))
        }
        return reply
    }
}
