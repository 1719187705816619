import Foundation
import JobControl
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The daemon's HTTP listener (`http:` in the configuration): `/metrics` in Prometheus's text
/// format, for a client with `read` (a bearer token, or anonymous when `anonymous: read`).
///
/// Served by SwiftNIO's HTTP/1.1 codec (NIOHTTP1, part of swift-nio, which the daemon already
/// builds) rather than Hummingbird: one route needs no router, and Hummingbird adds 2.5–4.5
/// minutes to every clean build on 2 cores (docs/web.md). State: the listener, set once by
/// ``bind()`` and taken by ``close()``, behind a `Mutex`.
final class HTTPServer: Sendable {
    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    let settings: HTTPSettings
    let engine: BuildEngine
    let scheduler: Scheduler
    let logger: Logger
    private let listener = Mutex<NIOAsyncChannel<Connection, Never>?>(nil)
    /// Connections being served.
    private let open = Mutex(0)

    init(settings: HTTPSettings, engine: BuildEngine, scheduler: Scheduler, logger: Logger) {
        self.settings = settings
        self.engine = engine
        self.scheduler = scheduler
        self.logger = logger
    }

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
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        // A client that stops sending is closed after 10 s (a flood of idle
                        // connections cannot hold the daemon's descriptors).
                        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(10)))
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
                        // At most 64 connections at once: more are closed unserved.
                        let admitted = open.withLock { count -> Bool in
                            guard count < 64 else { return false }
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
                for try await part in inbound {
                    switch part {
                    case .head(let request): head = request
                    case .body: continue  // no route takes a body yet
                    case .end:
                        guard let request = head else { continue }
                        let (status, type, body) = await respond(to: request)
                        var headers = HTTPHeaders()
                        headers.add(name: "Content-Type", value: type)
                        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
                        headers.add(name: "Cache-Control", value: "no-store")
                        headers.add(name: "X-Content-Type-Options", value: "nosniff")
                        if status == .unauthorized { headers.add(name: "WWW-Authenticate", value: "Bearer") }
                        if !request.isKeepAlive { headers.add(name: "Connection", value: "close") }
                        try await outbound.write(
                            .head(HTTPResponseHead(version: request.version, status: status, headers: headers)))
                        if request.method != .HEAD {
                            try await outbound.write(.body(.byteBuffer(ByteBuffer(string: body))))
                        }
                        try await outbound.write(.end(nil))
                        if !request.isKeepAlive { return }
                        head = nil
                    }
                }
            }
        } catch {
            logger.debug("HTTP connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// The answer to one request: status, content type, body.
    func respond(to request: HTTPRequestHead) async -> (HTTPResponseStatus, String, String) {
        let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
        guard path == "/metrics" else { return (.notFound, "text/plain; charset=utf-8", "not found: \(path)\n") }
        guard request.method == .GET || request.method == .HEAD else {
            return (.methodNotAllowed, "text/plain; charset=utf-8", "only GET\n")
        }
        let config = await engine.config
        let level = settings.level(authorization: request.headers.first(name: "Authorization"), secrets: config.secrets)
        guard let level, level >= .read else {
            return (
                .unauthorized, "text/plain; charset=utf-8",
                "a token with read access is needed (Authorization: Bearer TOKEN)\n"
            )
        }
        // Active schedules only, and nothing read from storage: a scrape costs the scheduler little.
        let nextRuns = await scheduler.nextDues().mapValues { Double($0) / 1_000_000 }
        let counts = engine.pool.counts
        let live = MetricsExposition.Live(
            jobs: config.jobs.map(\.id), nextRuns: nextRuns, running: counts.running, queued: counts.queued,
            workers: config.workers)
        return (.ok, MetricsExposition.contentType, MetricsExposition.render(.shared, live: live))
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
