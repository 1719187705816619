import CLinux
import Foundation
import JobControl
import JobControlProtocol
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Listens on the control socket and serves Varlink calls, one connection per task; calls on one
/// connection are answered in order.
///
/// Ownership: the listening channel is created by ``bind()`` and then only read; its lifetime is
/// managed by ``serve()`` and ``close()``. The listening channel, once bound, is kept in `listenerBox` (a mutex).
final class ControlServer: Sendable {
    typealias Connection = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    /// A new connection and who is at its other end (`SO_PEERCRED`, read when it was accepted).
    struct Accepted: Sendable {
        let connection: PendingConnection
        let peer: EventLoopFuture<AccessPolicy.Peer>?
    }

    let path: String
    /// A listening socket from the service manager; then `path` is only informative and the
    /// socket file belongs to systemd (never removed here).
    let inherited: Int32?
    let service: ControlService
    /// `access.socket_group`: the group the socket file is given.
    let socketGroup: String?
    let logger: Logger
    private let listenerBox = Mutex<NIOAsyncChannel<Accepted, Never>?>(nil)
    /// Connections being served, and when a refusal was last logged (at most one a minute).
    private let connections = Mutex<(open: Int, lastRefusalLogged: ContinuousClock.Instant?)>((0, nil))

    init(path: String, inherited: Int32? = nil, service: ControlService, socketGroup: String? = nil, logger: Logger) {
        self.path = path
        self.inherited = inherited
        self.service = service
        self.socketGroup = socketGroup
        self.logger = logger
    }

    /// Creates the socket file (mode 0660) and starts listening, or adopts the socket passed by
    /// the service manager.
    func bind() async throws(DaemonError) {
        if let inherited {
            do {
                let listener = try await Self.bootstrap()
                    .bind(inherited, cleanupExistingSocketFile: false) { channel in
                        channel.eventLoop.makeCompletedFuture { try Self.configure(channel) }
                    }
                listenerBox.withLock { $0 = listener }
                logger.info("using the control socket passed by the service manager", metadata: ["fd": "\(inherited)"])
                return
            } catch {
                throw .socket(path: path, reason: "cannot use the socket passed by the service manager (fd \(inherited)): \(error)")
            }
        }
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .socket(path: path, reason: "cannot create directory \(directory): \(error.localizedDescription)")
        }
        if FileManager.default.fileExists(atPath: path) {
            if await Self.isAnswering(path) {
                throw .socket(path: path, reason: "another jobcontrold is listening there; stop it, or use --socket PATH")
            }
        }
        let listener: NIOAsyncChannel<Accepted, Never>
        do {
            listener = try await Self.bootstrap()
                .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { channel in
                    channel.eventLoop.makeCompletedFuture { try Self.configure(channel) }
                }
        } catch {
            throw .socket(path: path, reason: "cannot listen: \(error)")
        }
        guard chmod(path, 0o660) == 0 else {
            let reason = String(cString: strerror(errno))
            try? await listener.channel.close()
            throw .socket(path: path, reason: "cannot set mode 0660: \(reason)")
        }
        if let group = socketGroup {
            guard let entry = getgrnam(group), chown(path, uid_t.max, entry.pointee.gr_gid) == 0 else {
                let reason = String(cString: strerror(errno))
                try? await listener.channel.close()
                throw .socket(path: path, reason: "cannot give the socket to group '\(group)' (access.socket_group): \(reason)")
            }
        }
        listenerBox.withLock { $0 = listener }
    }

    /// A client that sends part of a message and then nothing for this long is disconnected.
    static let partialMessageTimeout: TimeAmount = .seconds(30)
    /// Connections served at once; more are closed at once (each costs a descriptor and a few KB).
    static let maxConnections = 1024

    /// The listener's options. Accepted connections allow half-closure: a client that shuts down
    /// its writing side after its last call (socat, `shutdown(SHUT_WR)`) still gets every reply;
    /// its full close or a reset ends the connection at once (EPOLLHUP closes the channel).
    static func bootstrap() -> ServerBootstrap {
        ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 128)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
    }

    /// Varlink framing on a new connection, and its peer's credentials. Runs before the channel
    /// is registered, so no byte can arrive before the handlers are in place.
    static func configure(_ channel: any Channel) throws -> Accepted {
        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: partialMessageTimeout))
        try channel.pipeline.syncOperations.addHandler(SlowClientGuard())
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(VarlinkFrameDecoder()))
        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(VarlinkFrameEncoder()))
        let peer = (channel as? any SocketOptionProvider)?
            .unsafeGetSocketOption(level: .socket, name: .init(rawValue: SO_PEERCRED))
            .map { (credentials: jobcontrol_peer_credentials) in AccessPolicy.Peer(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid) }
        let connection = PendingConnection(try Connection(wrappingChannelSynchronously: channel))
        return Accepted(connection: connection, peer: peer)
    }

    /// Accepts connections until ``close()``.
    func serve() async {
        guard let listener = listenerBox.withLock({ $0 }) else { return }
        await withDiscardingTaskGroup { group in
            do {
                try await listener.executeThenClose { inbound in
                    for try await accepted in inbound {
                        guard admit() else {
                            group.addTask { await accepted.connection.take()?.closeUnserved() }
                            continue
                        }
                        group.addTask {
                            await self.serve(accepted)
                            self.connections.withLock { $0.open -= 1 }
                        }
                    }
                }
            } catch {
                logger.error("control socket stopped accepting", metadata: ["error": "\(error)"])
            }
            group.cancelAll()
        }
        if inherited == nil { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Counts a new connection in, unless ``maxConnections`` are open.
    private func admit() -> Bool {
        let (admitted, log) = connections.withLock { state -> (Bool, Bool) in
            if state.open < Self.maxConnections {
                state.open += 1
                return (true, false)
            }
            let now = ContinuousClock.now
            let log = state.lastRefusalLogged.map { now - $0 > .seconds(60) } ?? true
            if log { state.lastRefusalLogged = now }
            return (false, log)
        }
        if log {
            logger.warning("refusing connections: \(Self.maxConnections) are open (logged once a minute)")
        }
        return admitted
    }

    /// Stops accepting; open connections end as their tasks are cancelled.
    func close() async {
        let listener = listenerBox.withLock { $0 }
        try? await listener?.channel.close()
    }

    /// Serves one connection until the client has sent its last call and has every reply, or
    /// hangs up, or the daemon stops. The one teardown path: `executeThenClose` finishes the
    /// writer and closes the channel exactly once, whichever comes first.
    private func serve(_ accepted: Accepted) async {
        guard let connection = accepted.connection.take() else { return }
        let channel = connection.channel
        // Unknown credentials (never on Linux Unix sockets) get no rights beyond introspection.
        let peer = try? await accepted.peer?.get()
        do {
            try await connection.executeThenClose { inbound, outbound in
                // A channel that closes under a call (the client reset or vanished, the idle guard
                // fired) cancels the call: a followed log of a quiet build is not served to no one.
                let (closed, signalClosed) = AsyncStream<Never>.makeStream()
                channel.closeFuture.whenComplete { _ in signalClosed.finish() }
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await self.answer(inbound, outbound, peer: peer) }
                    group.addTask { for await _ in closed {} }
                    await group.next()
                    group.cancelAll()
                }
            }
        } catch {
            logger.debug("control connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// Answers the calls of one connection in order, until its input ends (EOF: every call read
    /// so far has been answered by then) or fails.
    private func answer(
        _ inbound: NIOAsyncChannelInboundStream<ByteBuffer>, _ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        peer: AccessPolicy.Peer?
    ) async {
        do {
            for try await frame in inbound {
                let call: VarlinkCall
                do throws(VarlinkError) {
                    call = try VarlinkCall(json: JSONValue.decodeMessage(frame))
                } catch {
                    // Not a Varlink call at all: answer once, then hang up (the stream cannot
                    // be trusted to be in sync any more).
                    try await outbound.write(VarlinkReply(error: error).json.messageBuffer())
                    return
                }
                try await service.handle(call, peer: peer) { reply in
                    if !call.oneway { try await outbound.write(reply.json.messageBuffer()) }
                }
            }
        } catch {
            logger.debug("control connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// Whether something accepts connections at `path` (a live daemon, not a stale file).
    static func isAnswering(_ path: String) async -> Bool {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(unixDomainSocketPath: path).get()
            try? await channel.close()
            return true
        } catch {
            return false
        }
    }
}
