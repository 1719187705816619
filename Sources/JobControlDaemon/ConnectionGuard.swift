import NIOCore

/// Closes a connection that started a message and then stopped sending (a slow or stuck client
/// holding a partial message in memory). An idle connection between messages — a client waiting
/// for a followed log, say — is left alone.
///
/// Ownership: an inbound handler; its state is touched only on its channel's event loop.
final class SlowClientGuard: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Bytes received since the last message's terminating NUL.
    private var partialBytes = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if let lastNUL = buffer.readableBytesView.lastIndex(of: 0) {
            partialBytes = buffer.writerIndex - lastNUL - 1
        } else {
            partialBytes += buffer.readableBytes
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read, partialBytes > 0 {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
