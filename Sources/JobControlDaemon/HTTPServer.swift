import Foundation
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
/// minutes to every clean build on 2 cores (docs/web.md). State: the listener, set once by
/// ``bind()`` and taken by ``close()``, and the count of open connections, each behind a `Mutex`.
final class HTTPServer: Sendable {
    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    /// Connections served at once (an SSE client holds one); more are closed unserved.
    static let maxConnections = 256
    /// A connection that neither sends nor receives for this long is closed (event streams
    /// send a comment every ``heartbeat``).
    static let idleTimeout = TimeAmount.seconds(10)
    static let heartbeat = Duration.seconds(5)

    let app: WebApp
    let logger: Logger
    private let listener = Mutex<NIOAsyncChannel<Connection, Never>?>(nil)
    private let open = Mutex(0)

    init(app: WebApp, logger: Logger) {
        self.app = app
        self.logger = logger
    }

    var settings: HTTPSettings { app.settings }

    /// `http://HOST:PORT/` as bound (the real port when the configuration said 0).
    var baseURL: String? {
        guard let (host, configured) = settings.hostAndPort else { return nil }
        let port = listener.withLock { $0?.channel.localAddress?.port } ?? configured
        return host.contains(":") ? "http://[\(host)]:\(port)/" : "http://\(host):\(port)/"
    }

    func bind() async throws(DaemonError) {
        guard let (host, port) = settings.hostAndPort else {
            throw .http(listen: settings.listen, reason: "not HOST:PORT")
        }
        do {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 128)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        // A silent connection is closed, so idle clients cannot hold the
                        // daemon's descriptors.
                        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: Self.idleTimeout))
                        try channel.pipeline.syncOperations.addHandler(CloseWhenIdle())
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        return try Connection(wrappingChannelSynchronously: channel)
                    }
                }
            listener.withLock { $0 = channel }
            logger.info(
                "HTTP listener up",
                metadata: ["listen": "\(settings.listen)", "port": "\(channel.channel.localAddress?.port ?? port)"])
        } catch {
            throw .http(listen: settings.listen, reason: "\(error)")
        }
    }

    /// Accepts connections until ``close()``.
    func serve() async {
        guard let channel = listener.withLock({ $0 }) else { return }
        await withDiscardingTaskGroup { group in
            do {
                try await channel.executeThenClose { inbound in
                    for try await connection in inbound {
                        let admitted = open.withLock { count -> Bool in
                            guard count < Self.maxConnections else { return false }
                            count += 1
                            return true
                        }
                        guard admitted else {
                            try? await connection.channel.close()
                            continue
                        }
                        group.addTask {
                            await self.serve(connection)
                            self.open.withLock { $0 -= 1 }
                        }
                    }
                }
            } catch {
                logger.error("HTTP listener stopped accepting", metadata: ["error": "\(error)"])
            }
            group.cancelAll()
        }
    }

    func close() async {
        let channel = listener.withLock { $0 }
        try? await channel?.channel.close()
    }

    /// One connection: requests answered in turn (keep-alive), until the client closes.
    private func serve(_ connection: Connection) async {
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
                    case .body(let buffer):
                        if body.count + buffer.readableBytes > WebRequest.maxBody {
                            tooLarge = true
                        } else {
                            body += buffer.readableBytesView
                        }
                    case .end:
                        guard let request = head else { continue }
                        let response =
                            tooLarge
                            ? WebResponse.text("a request body is at most 1 MiB", status: .payloadTooLarge)
                            : await app.respond(to: WebRequest(head: request, body: body))
                        let keepAlive = try await write(response, to: outbound, request: request)
                        if !keepAlive { return }
                        head = nil
                    }
                }
            }
        } catch {
            logger.debug("HTTP connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// Writes `response`; true when the connection may serve another request.
    private func write(
        _ response: WebResponse, to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>,
        request: HTTPRequestHead
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
            try await outbound.write(
                .head(HTTPResponseHead(version: request.version, status: response.status, headers: headers)))
            if request.method != .HEAD { try await outbound.write(.body(.byteBuffer(ByteBuffer(string: text)))) }
            try await outbound.write(.end(nil))
            return request.isKeepAlive
        case .events(let produce):
            // A stream ends the connection when it ends; a comment every few seconds keeps it
            // open through proxies and shows a client that has gone.
            headers.add(name: "Connection", value: "close")
            try await outbound.write(
                .head(HTTPResponseHead(version: request.version, status: response.status, headers: headers)))
            let write: WebResponse.Write = { text in
                try await outbound.write(.body(.byteBuffer(ByteBuffer(string: text))))
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
            try await outbound.write(.end(nil))
            return false
        }
    }
}

/// Closes a connection when its `IdleStateHandler` says it has been silent too long.
final class CloseWhenIdle: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
