import CLinux
import Dispatch
import FoundationEssentials
import Glibc
import JobControl
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The daemon's HTTP listener (`http:` in the configuration): it reads requests and writes the
/// answers of ``WebApp`` (the dashboard, `/api/v1`, `/metrics`), whole or as a stream of
/// Server-Sent Events.
///
/// Served by SwiftNIO's HTTP/1.1 codec (NIOHTTP1, part of swift-nio, which the daemon already
/// builds) rather than Hummingbird: the routes are few and fixed, and Hummingbird adds 2.5–4.5
/// minutes to every clean build on 2 cores (docs/web.md). It listens on TCP (`listen`) and/or a
/// Unix socket (`socket`), whose clients are known by their credentials. State: the listeners,
/// set by ``bind()`` and closed by ``close()``, and the count of open connections, each behind
/// a `Mutex`.
final class HTTPServer: Sendable {
    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    /// Connections served at once (an SSE client holds one); more are closed unserved.
    static let maxConnections = 256
    /// Event streams open at once: at most half the connections, so pages and API calls
    /// always have room.
    static let maxStreams = 128
    /// A client has this long to send a whole request (from connecting, or from the end of the
    /// previous answer), however it trickles its bytes, and as long to take each answer (or
    /// each event of a stream) once the daemon has it: one that does not read what it asked for
    /// (a thousand pipelined requests, never read) no longer holds its connection for good. No
    /// limit applies while the daemon works out an answer. Event streams send a comment every
    /// ``heartbeat``, which finds clients gone.
    static let requestTimeout = Duration.seconds(10)
    /// Connections one address (TCP) may hold at once: one client cannot take every slot.
    static let maxConnectionsPerAddress = maxConnections / 4
    static let heartbeat = Duration.seconds(5)

    let app: WebApp
    let logger: Logger
    /// Whether a listener's clients are known by SO_PEERCRED (the Unix socket).
    struct Listener: Sendable {
        var channel: NIOAsyncChannel<Connection, Never>
        var unix: Bool
    }

    private let listeners = Mutex<[Listener]>([])
    /// Connections open, in all and by remote address (TCP; the Unix socket's are not counted
    /// by address).
    private let open = Mutex((count: 0, byAddress: [String: Int]()))
    private let streams = Mutex(0)
    let socketGroup: String?

    init(app: WebApp, socketGroup: String? = nil, logger: Logger) {
        self.socketGroup = socketGroup
        self.app = app
        self.logger = logger
    }

    var settings: HTTPSettings { app.settings }

    /// `http://HOST:PORT/` as bound (the real port when the configuration said 0).
    var baseURL: String? {
        guard let (host, configured) = settings.hostAndPort else { return nil }
        let port = listeners.withLock { $0.first { !$0.unix }?.channel.channel.localAddress?.port } ?? configured
        return host.contains(":") ? "http://[\(host)]:\(port)/" : "http://\(host):\(port)/"
    }

    func bind() async throws(DaemonError) {
        if let listen = settings.listen {
            guard let (host, port) = settings.hostAndPort else { throw .http(listen: listen, reason: "not HOST:PORT") }
            do {
                let channel = try await Self.bootstrap().bind(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture { try Self.configure(channel) }
                }
                listeners.withLock { $0.append(Listener(channel: channel, unix: false)) }
                logger.info(
                    "HTTP listener up",
                    metadata: ["listen": "\(listen)", "port": "\(channel.channel.localAddress?.port ?? port)"])
            } catch {
                throw .http(listen: listen, reason: "\(error)")
            }
        }
        if let path = settings.socket {
            let channel: NIOAsyncChannel<Connection, Never>
            do {
                channel = try await Self.bootstrap().bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) {
                    channel in
                    channel.eventLoop.makeCompletedFuture { try Self.configure(channel) }
                }
            } catch {
                throw .http(listen: path, reason: "\(error)")
            }
            listeners.withLock { $0.append(Listener(channel: channel, unix: true)) }
            // As the control socket: the daemon's user and group (access.socket_group) only.
            guard chmod(path, 0o660) == 0 else {
                throw .http(listen: path, reason: "cannot set mode 0660: \(String(cString: strerror(errno)))")
            }
            if let group = socketGroup {
                guard let entry = getgrnam(group), chown(path, uid_t.max, entry.pointee.gr_gid) == 0 else {
                    throw .http(
                        listen: path, reason: "cannot give the socket to group '\(group)' (access.socket_group)")
                }
            }
            logger.info("HTTP listener up", metadata: ["socket": "\(path)"])
        }
    }

    static func bootstrap() -> ServerBootstrap {
        ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 128)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    }

    static func configure(_ channel: any Channel) throws -> Connection {
        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
        return try Connection(wrappingChannelSynchronously: channel)
    }

    /// Accepts connections on every listener until ``close()``.
    func serve() async {
        let all = listeners.withLock { $0 }
        await withDiscardingTaskGroup { group in
            for listener in all { group.addTask { await self.accept(listener) } }
        }
    }

    private func accept(_ listener: Listener) async {
        await withDiscardingTaskGroup { group in
            do {
                try await listener.channel.executeThenClose { inbound in
                    for try await connection in inbound {
                        let address = listener.unix ? nil : connection.channel.remoteAddress?.ipAddress
                        let admitted = open.withLock { open -> Bool in
                            guard open.count < Self.maxConnections else { return false }
                            if let address {
                                guard open.byAddress[address, default: 0] < Self.maxConnectionsPerAddress else {
                                    return false
                                }
                                open.byAddress[address, default: 0] += 1
                            }
                            open.count += 1
                            return true
                        }
                        guard admitted else {
                            try? await connection.channel.close()
                            continue
                        }
                        group.addTask {
                            await self.serve(connection, unix: listener.unix)
                            self.open.withLock { open in
                                open.count -= 1
                                if let address {
                                    let left = open.byAddress[address, default: 1] - 1
                                    open.byAddress[address] = left > 0 ? left : nil
                                }
                            }
                        }
                    }
                }
            } catch is CancellationError {
                // The daemon stops (the listener was closed): nothing went wrong.
            } catch {
                logger.error("HTTP listener stopped accepting", metadata: ["error": "\(error)"])
            }
            group.cancelAll()
        }
    }

    func close() async {
        for listener in listeners.withLock({ $0 }) { try? await listener.channel.channel.close() }
    }

    /// One connection: requests answered in turn (keep-alive), until the client closes.
    private func serve(_ connection: Connection, unix: Bool) async {
        // Over the Unix socket the client is known by its credentials (never on TCP).
        var peer: AccessPolicy.Peer?
        if unix, let provider = connection.channel as? any SocketOptionProvider {
            peer = try? await provider.unsafeGetSocketOption(level: .socket, name: .init(rawValue: SO_PEERCRED))
                .map { (credentials: jobcontrol_peer_credentials) in
                    AccessPolicy.Peer(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid)
                }.get()
        }
        // The deadline: set while waiting for a request and while the client takes an answer,
        // cleared while the daemon works one out. A watchdog closes a connection past it, so
        // neither an idle client, nor one trickling a byte at a time (slowloris), nor one that
        // does not read its answers can hold a connection.
        let deadline = Deadline(.now + Self.requestTimeout)
        let watchdog = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(1))
                if let due = deadline.due.withLock({ $0 }), ContinuousClock.now > due {
                    try? await connection.channel.close()
                    return
                }
            }
        }
        defer { watchdog.cancel() }
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                var body: [UInt8] = []
                var tooLarge = false
                for try await part in inbound {
                    switch part {
                    case .head(let request):
                        head = request
                        body = []
                        tooLarge = false
                        // A client that waits to be asked for its body (curl does, past 1 KiB) is
                        // asked at once instead of after its own timeout (a second, for curl).
                        if Self.expectsContinue(request) {
                            try await outbound.write(
                                .head(HTTPResponseHead(version: request.version, status: .continue)))
                        }
                    case .body(let buffer):
                        if body.count + buffer.readableBytes > WebRequest.maxBody {
                            tooLarge = true
                        } else {
                            body += buffer.readableBytesView
                        }
                    case .end:
                        guard let request = head else { continue }
                        deadline.set(nil)
                        let response =
                            tooLarge
                            ? WebResponse.text("a request body is at most 1 MiB", status: .payloadTooLarge)
                            : await app.respond(to: WebRequest(head: request, body: body, peer: peer))
                        let keepAlive = try await write(
                            response, to: outbound, request: request,
                            bounded: { body in
                                deadline.set(.now + Self.requestTimeout)
                                defer { deadline.set(nil) }
                                try await body()
                            })
                        if !keepAlive { return }
                        head = nil
                        deadline.set(.now + Self.requestTimeout)
                    }
                }
            }
        } catch {
            logger.debug("HTTP connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// `Expect: 100-continue` on an HTTP/1.1 request whose body may be taken (a larger one is
    /// refused when it has come: the client then sends it after its own wait).
    static func expectsContinue(_ request: HTTPRequestHead) -> Bool {
        guard request.version == .http1_1,
            request.headers[canonicalForm: "Expect"].contains(where: { $0.lowercased() == "100-continue" })
        else { return false }
        let length = request.headers.first(name: "Content-Length").flatMap { Int($0) } ?? 0
        return length <= WebRequest.maxBody
    }

    /// When a connection's watchdog closes it, if nothing happens before; nil while the daemon
    /// works out an answer. Ownership: the mutex.
    final class Deadline: Sendable {
        let due: Mutex<ContinuousClock.Instant?>
        init(_ due: ContinuousClock.Instant?) { self.due = Mutex(due) }
        func set(_ instant: ContinuousClock.Instant?) { due.withLock { $0 = instant } }
    }

    /// A write the client must take within ``requestTimeout`` (the connection's watchdog closes
    /// it otherwise).
    typealias Bounded = @Sendable (_ body: @Sendable () async throws -> Void) async throws -> Void

    /// Writes `response`, each part through `bounded`; true when the connection may serve
    /// another request.
    private func write(
        _ response: WebResponse, to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>,
        request: HTTPRequestHead, bounded: @escaping Bounded
    ) async throws -> Bool {
        var headers = HTTPHeaders()
        for (name, value) in WebApp.securityHeaders where !response.headers.contains(where: { $0.0 == name }) {
            headers.add(name: name, value: value)
        }
        for (name, value) in response.headers { headers.add(name: name, value: value) }
        switch response.body {
        case .text(let text):
            headers.add(name: "Content-Length", value: "\(text.utf8.count)")
            if !request.isKeepAlive { headers.add(name: "Connection", value: "close") }
            let head = HTTPResponseHead(version: request.version, status: response.status, headers: headers)
            try await bounded {
                try await outbound.write(.head(head))
                if request.method != .HEAD { try await outbound.write(.body(.byteBuffer(ByteBuffer(string: text)))) }
                try await outbound.write(.end(nil))
            }
            return request.isKeepAlive
        case .events where request.method == .HEAD:
            let head = HTTPResponseHead(version: request.version, status: response.status, headers: headers)
            try await bounded {
                try await outbound.write(.head(head))
                try await outbound.write(.end(nil))
            }
            return request.isKeepAlive
        case .events(let produce):
            let admitted = streams.withLock { count -> Bool in
                guard count < Self.maxStreams else { return false }
                count += 1
                return true
            }
            guard admitted else {
                return try await write(
                    .text(
                        "too many event streams are open (\(Self.maxStreams)); try again later",
                        status: .serviceUnavailable),
                    to: outbound, request: request, bounded: bounded)
            }
            defer { streams.withLock { $0 -= 1 } }
            // A stream ends the connection when it ends; a comment every few seconds keeps it
            // open through proxies and shows a client that has gone.
            headers.add(name: "Connection", value: "close")
            let head = HTTPResponseHead(version: request.version, status: response.status, headers: headers)
            try await bounded { try await outbound.write(.head(head)) }
            let write: WebResponse.Write = { text in
                try await bounded { try await outbound.write(.body(.byteBuffer(ByteBuffer(string: text)))) }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await produce(write) }
                group.addTask {
                    while true {
                        try await Task.sleep(for: Self.heartbeat)
                        try await write(": keep-alive\n\n")
                    }
                }
                try await group.next()
                group.cancelAll()
            }
            try await bounded { try await outbound.write(.end(nil)) }
            return false
        }
    }
}
