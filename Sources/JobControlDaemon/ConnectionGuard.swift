import NIOCore
import Synchronization

/// What a connection's task tells its guard: whether a call is being answered now.
///
/// Ownership: an atomic counter, written by the connection's task and read on its event loop.
final class ConnectionActivity: Sendable {
    private let calls = Atomic<Int>(0)
    private let restrictedFlag = Atomic<Bool>(false)
    private let buildsOnlyFlag = Atomic<Bool>(false)

    init() {}

    /// Over the per-user or global connection limit: only `io.jobcontrol.Build` calls (a running
    /// build's, with its token) and introspection are answered, and an idle connection is closed
    /// after one tick. Set once, when the connection is admitted.
    var restricted: Bool { restrictedFlag.load(ordering: .relaxed) }

    func restrict() { restrictedFlag.store(true, ordering: .relaxed) }

    /// Accepted on the builds' socket: only `io.jobcontrol.Build` calls (and introspection) are
    /// answered. Set once, when the connection is accepted.
    var buildsOnly: Bool { buildsOnlyFlag.load(ordering: .relaxed) }

    func serveBuildsOnly() { buildsOnlyFlag.store(true, ordering: .relaxed) }

    var isAnswering: Bool { calls.load(ordering: .relaxed) > 0 }

    /// Runs `body` as a call in progress: an idle timeout does not close the connection meanwhile
    /// (a followed log of a quiet build sends nothing for minutes).
    func answering<T>(_ body: () async throws -> T) async rethrows -> T {
        calls.add(1, ordering: .relaxed)
        defer { calls.subtract(1, ordering: .relaxed) }
        return try await body()
    }
}

/// Closes connections that hold the daemon's resources for nothing:
/// - a client that started a message and then stopped sending (holding a partial message in
///   memory), after ``partialTicks`` ticks;
/// - a connection with no call in progress and nothing received, after ``idleTicks`` ticks
///   (one tick if it is restricted).
/// A tick is one `IdleStateHandler` read timeout (``tick``).
///
/// Ownership: an inbound handler; its state is touched only on its channel's event loop.
final class ConnectionGuard: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    static let tick: TimeAmount = .seconds(5)
    /// 30 s with a partial message.
    static let partialTicks = 6
    /// 5 minutes without a call.
    static let idleTicks = 60

    private let activity: ConnectionActivity
    /// Bytes received since the last message's terminating NUL.
    private var partialBytes = 0
    /// When the message being received began: a client trickling a byte now and then (which
    /// keeps the idle ticks away) is still cut off 30 s after its message began.
    private var partialSince: NIODeadline?
    static let partialLimit: TimeAmount = .seconds(30)
    /// Read timeouts in a row without a byte received.
    private var quietTicks = 0

    init(activity: ConnectionActivity) {
        self.activity = activity
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let now = NIODeadline.now()
        if let lastNUL = buffer.readableBytesView.lastIndex(of: 0) {
            partialBytes = buffer.writerIndex - lastNUL - 1
            partialSince = partialBytes > 0 ? now : nil
        } else {
            if partialBytes == 0, buffer.readableBytes > 0 { partialSince = now }
            partialBytes += buffer.readableBytes
        }
        quietTicks = 0
        if let since = partialSince, now - since > Self.partialLimit {
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        quietTicks += 1
        if partialBytes > 0 {
            if quietTicks >= Self.partialTicks { context.close(promise: nil) }
        } else if !activity.isAnswering, quietTicks >= (activity.restricted ? 1 : Self.idleTicks) {
            context.close(promise: nil)
        }
    }
}
