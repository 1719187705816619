import Foundation
import JobControl
import NIOCore

/// Splits the byte stream into Varlink messages: each is JSON text ended by a NUL byte.
///
/// A message longer than `maxMessageBytes` without its NUL is refused with
/// ``VarlinkFramingError/messageTooLarge``, which closes the connection: memory stays bounded
/// whatever a peer sends.
public struct VarlinkFrameDecoder: ByteToMessageDecoder, Sendable {
    public typealias InboundOut = ByteBuffer

    public let maxMessageBytes: Int
    /// How many bytes after the reader index are known to hold no NUL: each byte is searched once,
    /// however the message arrives in pieces.
    private var searched = 0

    public init(maxMessageBytes: Int = VarlinkFrameDecoder.defaultMaxMessageBytes) {
        self.maxMessageBytes = maxMessageBytes
    }

    /// 8 MiB: far above any reply the daemon sends, far below what would hurt it.
    public static let defaultMaxMessageBytes = 8 * 1024 * 1024

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let start = searched
        let found = buffer.withUnsafeReadableBytes { bytes -> Int? in
            guard bytes.count > start, let base = bytes.baseAddress,
                  let hit = memchr(base + start, 0, bytes.count - start) else { return nil }
            return base.distance(to: UnsafeRawPointer(hit))
        }
        guard let length = found else {
            searched = buffer.readableBytes
            if buffer.readableBytes > maxMessageBytes {
                throw VarlinkFramingError.messageTooLarge(limit: maxMessageBytes)
            }
            return .needMoreData
        }
        searched = 0
        let message = buffer.readSlice(length: length)!
        buffer.moveReaderIndex(forwardBy: 1)  // the NUL
        context.fireChannelRead(Self.wrapInboundOut(message))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        // A trailing fragment without its NUL is not a message; drop it.
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}

/// Appends the NUL that ends each outgoing message.
public struct VarlinkFrameEncoder: MessageToByteEncoder, Sendable {
    public typealias OutboundIn = ByteBuffer

    public init() {}

    public func encode(data: ByteBuffer, out: inout ByteBuffer) throws {
        var data = data
        out.writeBuffer(&data)
        out.writeInteger(UInt8(0))
    }
}

public enum VarlinkFramingError: Error, Sendable, CustomStringConvertible {
    case messageTooLarge(limit: Int)

    public var description: String {
        switch self {
        case .messageTooLarge(let limit): return "message larger than \(limit) bytes without a terminating NUL"
        }
    }
}

extension JSONValue {
    /// Decodes a message body; anything that is not JSON is a Varlink invalid-message error.
    public static func decodeMessage(_ buffer: ByteBuffer) throws(VarlinkError) -> JSONValue {
        do {
            return try JSONValue.parse(String(buffer: buffer))
        } catch {
            throw .invalidMessage("message is not valid JSON")
        }
    }

    public func messageBuffer(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        allocator.buffer(string: jsonText())
    }
}
