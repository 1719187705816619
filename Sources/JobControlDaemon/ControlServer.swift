import CLinux
import Dispatch
import FoundationEssentials
import Glibc
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
        let activity: ConnectionActivity
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
    /// The builds' socket (``ControlSocketPath/builds(beside:)``), mode 0666: any local user may
    /// connect, and only a running build's token gets anything done there.
    private let buildListenerBox = Mutex<NIOAsyncChannel<Accepted, Never>?>(nil)
    var buildsPath: String { ControlSocketPath.builds(beside: path) }
    /// Connections being served, in all and per user.
    private let connections = Mutex(ConnectionLimits())

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
                await bindBuilds()
                return
            } catch {
                throw .socket(
                    path: path,
                    reason: "cannot use the socket passed by the service manager (fd \(inherited)): \(error)")
            }
        }
        let directory = path.parentPath
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .socket(path: path, reason: "cannot create directory \(directory): \(fileErrorText(error))")
        }
        let listener = try await Self.listen(at: path, mode: 0o660)
        if let group = socketGroup {
            guard let entry = getgrnam(group), chown(path, uid_t.max, entry.pointee.gr_gid) == 0 else {
                let reason = String(cString: strerror(errno))
                try? await listener.channel.close()
                throw .socket(
                    path: path, reason: "cannot give the socket to group '\(group)' (access.socket_group): \(reason)")
            }
        }
        listenerBox.withLock { $0 = listener }
        await bindBuilds()
    }

    /// The path a listening Unix socket is bound to (a socket the service manager passed).
    static func boundPath(of descriptor: Int32) -> String? {
        var address = sockaddr_un()
        var length = socklen_t(MemoryLayout<sockaddr_un>.size)
        let got = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard got == 0, address.sun_family == sa_family_t(AF_UNIX) else { return nil }
        let path = withUnsafeBytes(of: address.sun_path) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        return path.hasPrefix("/") ? path : nil
    }

    /// Creates the builds' socket beside the control socket, mode 0666 (see ``buildListenerBox``).
    /// Without it (a directory the daemon may not write, say) builds use the control socket, as
    /// before it existed: a warning, not a reason not to start.
    private func bindBuilds() async {
        do throws(DaemonError) {
            let listener = try await Self.listen(at: buildsPath, mode: 0o666)
            buildListenerBox.withLock { $0 = listener }
        } catch {
            logger.warning(
                "no builds' socket: a build running as another user (user:) cannot report progress or log lines",
                metadata: ["error": "\(error)"])
        }
    }

    /// A listening socket file at `path` with `mode`; refused while another daemon answers there
    /// (a stale file is replaced).
    private static func listen(at path: String, mode: mode_t) async throws(DaemonError)
        -> NIOAsyncChannel<Accepted, Never>
    {
        if FileManager.default.fileExists(atPath: path), await isAnswering(path) {
            throw .socket(path: path, reason: "another jobcontrold is listening there; stop it, or use --socket PATH")
        }
        let listener: NIOAsyncChannel<Accepted, Never>
        do {
            listener = try await bootstrap()
                .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { channel in
                    channel.eventLoop.makeCompletedFuture { try configure(channel) }
                }
        } catch {
            throw .socket(path: path, reason: "cannot listen: \(error)")
        }
        guard chmod(path, mode) == 0 else {
            let reason = String(cString: strerror(errno))
            try? await listener.channel.close()
            throw .socket(path: path, reason: "cannot set mode 0\(String(mode, radix: 8)): \(reason)")
        }
        return listener
    }

    /// Messages over this size are refused unless they are `io.jobcontrol.Build` calls (a log
    /// line or a return value from a running build may be large; nothing else needs to be).
    static let smallMessageBytes = 64 * 1024

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
        let activity = ConnectionActivity()
        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: ConnectionGuard.tick))
        try channel.pipeline.syncOperations.addHandler(ConnectionGuard(activity: activity))
        try channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(
                VarlinkFrameDecoder(
                    smallMessageBytes: smallMessageBytes, largeMethodPrefix: Interfaces.build + ".",
                    largeAllowed: { !activity.restricted })))
        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(VarlinkFrameEncoder()))
        let peer = (channel as? any SocketOptionProvider)?
            .unsafeGetSocketOption(level: .socket, name: .init(rawValue: SO_PEERCRED))
            .map { (credentials: jobcontrol_peer_credentials) in
                AccessPolicy.Peer(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid)
            }
        let connection = PendingConnection(try Connection(wrappingChannelSynchronously: channel))
        return Accepted(connection: connection, peer: peer, activity: activity)
    }

    /// Accepts connections on the control socket and the builds' socket until ``close()``.
    func serve() async {
        let builds = buildListenerBox.withLock { $0 }
        await withDiscardingTaskGroup { group in
            if let builds { group.addTask { await self.accept(on: builds, buildsOnly: true) } }
            await accept(on: listenerBox.withLock { $0 }, buildsOnly: false)
            group.cancelAll()
        }
        removeSocketFiles(builds: builds != nil)
    }

    /// Removes the socket files this daemon made (not a socket systemd passed): at the end of
    /// ``serve()``, and when the start fails after ``bind()`` (an HTTP address in use).
    func removeSocketFiles(builds: Bool? = nil) {
        if inherited == nil { try? FileManager.default.removeItem(atPath: path) }
        if builds ?? (buildListenerBox.withLock { $0 } != nil) {
            try? FileManager.default.removeItem(atPath: buildsPath)
        }
    }

    private func accept(on listener: NIOAsyncChannel<Accepted, Never>?, buildsOnly: Bool) async {
        guard let listener else { return }
        await withDiscardingTaskGroup { group in
            do {
                try await listener.executeThenClose { inbound in
                    for try await accepted in inbound {
                        // Unknown credentials (never on Linux Unix sockets) get no rights beyond introspection.
                        let peer = try? await accepted.peer?.get()
                        let admission = connections.withLock { $0.admit(peer) }
                        if let refusal = admission.refusal { logRefusal(refusal) }
                        switch admission {
                        case .refused:
                            group.addTask {
                                await accepted.connection.take()?.closeUnserved(
                                    saying: VarlinkReply(error: ConnectionLimits.tooMany(peer)))
                            }
                            continue
                        case .restricted:
                            accepted.activity.restrict()
                        case .served:
                            break
                        }
                        if buildsOnly { accepted.activity.serveBuildsOnly() }
                        group.addTask {
                            await self.serve(accepted, peer: peer)
                            self.connections.withLock { $0.release(peer) }
                        }
                    }
                }
            } catch is CancellationError {
                // The daemon stops (the listener was closed): nothing went wrong.
            } catch {
                logger.error("control socket stopped accepting", metadata: ["error": "\(error)"])
            }
            group.cancelAll()
        }
    }

    /// Logs why connections are refused or restricted, at most once a minute.
    private func logRefusal(_ refusal: String) {
        let now = ContinuousClock.now
        let log = connections.withLock { state in
            guard state.lastRefusalLogged.map({ now - $0 > .seconds(60) }) ?? true else { return false }
            state.lastRefusalLogged = now
            return true
        }
        if log { logger.warning("\(refusal) (logged at most once a minute)") }
    }

    /// Stops accepting; open connections end as their tasks are cancelled.
    func close() async {
        for listener in [listenerBox.withLock { $0 }, buildListenerBox.withLock { $0 }] {
            try? await listener?.channel.close()
        }
    }

    /// Serves one connection until the client has sent its last call and has every reply, or
    /// hangs up, or the daemon stops. The one teardown path: `executeThenClose` finishes the
    /// writer and closes the channel exactly once, whichever comes first.
    private func serve(_ accepted: Accepted, peer: AccessPolicy.Peer?) async {
        guard let connection = accepted.connection.take() else { return }
        let channel = connection.channel
        let activity = accepted.activity
        do {
            try await connection.executeThenClose { inbound, outbound in
                // A channel that closes under a call (the client reset or vanished, the idle guard
                // fired) cancels the call: a followed log of a quiet build is not served to no one.
                let (closed, signalClosed) = AsyncStream<Never>.makeStream()
                channel.closeFuture.whenComplete { _ in signalClosed.finish() }
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await self.answer(inbound, outbound, peer: peer, activity: activity) }
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
        peer: AccessPolicy.Peer?, activity: ConnectionActivity
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
                // Past the small size only a build's call may go: the framing vouched for it by
                // the leading "method" key, and a second one (JSON keeps the last) must not
                // smuggle another method past the limit.
                if frame.readableBytes > Self.smallMessageBytes, call.interface != Interfaces.build {
                    throw VarlinkFramingError.messageTooLargeForMethod(
                        method: call.method, limit: Self.smallMessageBytes)
                }
                // A restricted connection serves a running build's token-carrying calls only: any
                // other call, or one its token does not authorize, ends it (introspection, or
                // calls with made-up tokens, kept a flood of them open for good).
                if activity.restricted, call.interface != Interfaces.build {
                    try await outbound.write(VarlinkReply(error: ConnectionLimits.tooMany(peer)).json.messageBuffer())
                    return
                }
                if activity.buildsOnly, call.interface != Interfaces.build, call.interface != Interfaces.service {
                    let refusal = VarlinkError(
                        "\(Interfaces.manager).AccessDenied", parameters: ["method": .string(call.method)],
                        message:
                            "this socket serves running builds' own calls (io.jobcontrol.Build) only; use the control socket, \(path)"
                    )
                    try await outbound.write(VarlinkReply(error: refusal).json.messageBuffer())
                    return
                }
                var failed = false
                try await activity.answering {
                    try await service.handle(call, peer: peer) { reply in
                        if reply.error != nil { failed = true }
                        if !call.oneway { try await outbound.write(reply.json.messageBuffer()) }
                    }
                }
                if activity.restricted, failed { return }
            }
        } catch let error as VarlinkFramingError {
            // Too large: say so before hanging up (what was sent cannot be skipped reliably).
            let reply = VarlinkReply(
                error: VarlinkError(
                    "\(Interfaces.manager).RequestTooLarge", parameters: ["limit": .int(Int64(Self.smallMessageBytes))],
                    message: error.description))
            try? await outbound.write(reply.json.messageBuffer())
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
