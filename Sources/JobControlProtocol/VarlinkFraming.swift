import FoundationEssentials
import Glibc
import JobControlModel
import NIOCore

/// Splits the byte stream into Varlink messages: each is JSON text ended by a NUL byte.
///
/// A message longer than `maxMessageBytes` without its NUL is refused with
/// ``VarlinkFramingError/messageTooLarge``, which closes the connection: memory stays bounded
/// whatever a peer sends.
public struct VarlinkFrameDecoder: ByteToMessageDecoder, Sendable {
    public typealias InboundOut = ByteBuffer

    public let maxMessageBytes: Int
    /// Per-method sizes (the daemon's side): a message over `smallMessageBytes` is refused unless
    /// its method starts with `largeMethodPrefix`, found among its first bytes (callers write
    /// `method` first: keys are sorted). A 7 MB job name is refused after 64 KiB, without parsing.
    public let smallMessageBytes: Int?
    public let largeMethodPrefix: String?
    /// Asked before a message may grow past `smallMessageBytes` (the daemon: not on a connection
    /// restricted for being over its user's limit).
    public let largeAllowed: (@Sendable () -> Bool)?
    /// How many bytes after the reader index are known to hold no NUL: each byte is searched once,
    /// however the message arrives in pieces.
    private var searched = 0
    /// The message being received may grow to `maxMessageBytes` (its method allows it).
    private var currentMayBeLarge = false

    public init(
        maxMessageBytes: Int = VarlinkFrameDecoder.defaultMaxMessageBytes, smallMessageBytes: Int? = nil,
        largeMethodPrefix: String? = nil, largeAllowed: (@Sendable () -> Bool)? = nil
    ) {
        self.maxMessageBytes = maxMessageBytes
        self.smallMessageBytes = smallMessageBytes
        self.largeMethodPrefix = largeMethodPrefix
        self.largeAllowed = largeAllowed
    }

    /// 8 MiB: far above any reply the daemon sends, far below what would hurt it.
    public static let defaultMaxMessageBytes = 8 * 1024 * 1024

    /// Refuses a message of `length` bytes (so far) that is over the small limit and whose
    /// method may not be large.
    private mutating func checkSize(_ buffer: ByteBuffer, length: Int) throws {
        guard let small = smallMessageBytes, length > small, !currentMayBeLarge else { return }
        let method = Self.method(in: buffer.readableBytesView.prefix(4096))
        if let method, let prefix = largeMethodPrefix, method.hasPrefix(prefix), largeAllowed?() ?? true {
            currentMayBeLarge = true
            return
        }
        throw VarlinkFramingError.messageTooLargeForMethod(method: method, limit: small)
    }

    /// The value of `"method"` when it is the message's first key (`{"method": "…"`, whitespace
    /// allowed), read without a JSON parser (the message may be incomplete); nil otherwise. Only
    /// the leading key counts: a `"method"` nested further in, or a second one, cannot vouch for
    /// a large message.
    static func method(in bytes: ByteBufferView.SubSequence) -> String? {
        var rest = Substring(String(decoding: bytes, as: UTF8.self))
        func skipSpace() { rest = rest.drop { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" } }
        func take(_ literal: String) -> Bool {
            guard rest.hasPrefix(literal) else { return false }
            rest = rest.dropFirst(literal.count)
            return true
        }
        skipSpace()
        guard take("{") else { return nil }
        skipSpace()
        guard take("\"method\"") else { return nil }
        skipSpace()
        guard take(":") else { return nil }
        skipSpace()
        guard take("\""), let end = rest.firstIndex(where: { $0 == "\"" || $0 == "\\" }), rest[end] == "\"" else {
            return nil
        }
        return String(rest[..<end])
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let start = searched
        let found = buffer.withUnsafeReadableBytes { bytes -> Int? in
            guard bytes.count > start, let base = bytes.baseAddress,
                let hit = memchr(base + start, 0, bytes.count - start)
            else { return nil }
            return base.distance(to: UnsafeRawPointer(hit))
        }
        guard let length = found else {
            searched = buffer.readableBytes
            if buffer.readableBytes > maxMessageBytes {
                throw VarlinkFramingError.messageTooLarge(limit: maxMessageBytes)
            }
            try checkSize(buffer, length: buffer.readableBytes)
            return .needMoreData
        }
        // Also when the NUL came in the same read as the bytes that crossed the limit.
        if length > maxMessageBytes { throw VarlinkFramingError.messageTooLarge(limit: maxMessageBytes) }
        try checkSize(buffer, length: length)
        searched = 0
        currentMayBeLarge = false
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
    /// Over the small limit, and its method (if it could be read) may not be larger.
    case messageTooLargeForMethod(method: String?, limit: Int)

    public var description: String {
        switch self {
        case .messageTooLarge(let limit): return "message larger than \(limit) bytes without a terminating NUL"
        case .messageTooLargeForMethod(let method, let limit):
            return "message larger than \(limit / 1024) KiB"
                + (method.map { " for \($0)" } ?? " (no \"method\" among its first bytes)")
                + "; only io.jobcontrol.Build calls may be larger"
        }
    }
}

extension JSONValue {
    /// Decodes a message body; anything that is not JSON is a Varlink invalid-message error.
    public static func decodeMessage(_ buffer: ByteBuffer) throws(VarlinkError) -> JSONValue {
        // JSON is UTF-8 (RFC 8259): invalid bytes are refused, not replaced by U+FFFD.
        guard let text = String(validating: buffer.readableBytesView, as: UTF8.self) else {
            throw .invalidMessage("message is not valid UTF-8")
        }
        do {
            return try JSONValue.parse(text)
        } catch {
            // The reader's reason (with its byte offset) says what to mend: nesting past 256
            // levels, a number past ±1.8e308, a stray byte.
            throw .invalidMessage("message is not valid JSON: \(error)")
        }
    }

    public func messageBuffer(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        allocator.buffer(string: jsonText())
    }
}
