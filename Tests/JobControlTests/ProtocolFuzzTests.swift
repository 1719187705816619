import Foundation
import NIOCore
import NIOEmbedded
import Testing

@testable import JobControl
@testable import JobControlProtocol

/// Random, mutated and truncated input thrown at the protocol decoder: the framing, the JSON
/// parser and the call parser. Nothing may crash or hang; every message either parses or is an
/// error. A seeded generator makes any failure reproducible.
@Suite struct ProtocolFuzzTests {
    /// xorshift64*: deterministic, fast, good enough to shake a parser.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return state &* 2_685_821_657_736_338_717
        }
    }

    static let seeds: [String] = [
        #"{"method":"io.jobcontrol.Manager.RunJob","parameters":{"job":"a","pins":{"b":1},"force":true},"more":true}"#,
        #"{"method":"org.varlink.service.GetInterfaceDescription","parameters":{"interface":"io.jobcontrol.Manager"}}"#,
        #"{"method":"io.jobcontrol.Build.ReportProgress","parameters":{"token":"t","current":1,"total":2,"group":"a::b"}}"#,
        #"{"method":"x.Y","parameters":{"a":[1,2.5e3,-0,true,false,null,"\u00e9\n\"",{"b":[[[]]]}]}}"#,
    ]

    /// Parses `text` the way the server does; returns whether it was a valid call.
    static func decode(_ text: String) -> Bool {
        decode(bytes: Array(text.utf8))
    }

    /// Parses raw bytes (invalid UTF-8 included) the way the server does.
    static func decode(bytes: [UInt8]) -> Bool {
        do {
            _ = try VarlinkCall(json: JSONValue.decodeMessage(ByteBuffer(bytes: bytes)))
            return true
        } catch {
            return false
        }
    }

    /// Whether an independent parser (Foundation's) takes `bytes` as JSON text (RFC 8259: any
    /// value at the top, UTF-8 only).
    static func oracleAccepts(_ bytes: [UInt8]) -> Bool {
        (try? JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed)) != nil
    }

    @Test func mutatedAndTruncatedMessagesAreErrorsNotCrashes() {
        var random = Generator(state: 0x9E37_79B9_7F4A_7C15)
        var valid = 0
        var invalid = 0
        var disagreements: [[UInt8]] = []
        let alphabet = Array(#"{}[]":,\ 0123456789.eE+-truefalsnul"#.utf8) + [0, 0x7F, 0xC3, 0xA9, 0xFF, 0x0A]
        for round in 0..<20_000 {
            var bytes = Array(Self.seeds[round % Self.seeds.count].utf8)
            switch round % 4 {
            case 0:  // truncate
                bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &random)))
            case 1:  // flip bytes
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = alphabet.randomElement(using: &random)!
                }
            case 2:  // splice a random chunk in
                let chunk = (0..<Int.random(in: 1...16, using: &random)).map { _ in
                    alphabet.randomElement(using: &random)!
                }
                bytes.insert(contentsOf: chunk, at: Int.random(in: 0...bytes.count, using: &random))
            default:  // pure noise
                bytes = (0..<Int.random(in: 0...64, using: &random)).map { _ in
                    UInt8.random(in: 0...255, using: &random)
                }
            }
            // Raw bytes, as they come off the socket: invalid UTF-8 reaches the decoder.
            let parsed = (try? JSONValue.decodeMessage(ByteBuffer(bytes: bytes))) != nil
            // (A NUL byte never reaches the parser: the framing splits messages there.)
            if !bytes.contains(0), parsed != Self.oracleAccepts(bytes), disagreements.count < 10 {
                disagreements.append(bytes)
            }
            if Self.decode(bytes: bytes) { valid += 1 } else { invalid += 1 }
        }
        #expect(valid + invalid == 20_000)
        #expect(invalid > 5_000)
        // A decoder that refused everything (or accepted everything) would disagree constantly.
        #expect(valid > 1_000, "mutations that keep the call valid must still decode")
        #expect(
            disagreements.isEmpty,
            "JSON accepted differently from Foundation's parser: \(disagreements.map { String(decoding: $0, as: UTF8.self) })"
        )
    }

    @Test func theSeedsDecodeToTheirCalls() throws {
        let call = try VarlinkCall(json: JSONValue.decodeMessage(ByteBuffer(string: Self.seeds[0])))
        #expect(call.method == "io.jobcontrol.Manager.RunJob" && call.more)
        #expect(call.parameters["pins"]?["b"]?.intValue == 1 && call.parameters["force"] == true)
        for seed in Self.seeds { #expect(Self.decode(seed), "\(seed)") }
    }

    @Test func deepNestingIsRefusedWithoutExhaustingTheStack() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(!Self.decode(#"{"method":"a.B","parameters":{"x":"# + deep + "}}"))
        #expect(throws: (any Error).self) { try JSONValue.parse(deep) }
    }

    @Test func framingSplitsStreamsAtAnyChunkBoundaryAndBoundsPartialMessages() throws {
        var random = Generator(state: 42)
        let messages = Self.seeds.map { Array($0.utf8) + [0] }
        let stream = messages.flatMap { $0 }
        for _ in 0..<200 {
            let channel = EmbeddedChannel(handler: ByteToMessageHandler(VarlinkFrameDecoder(maxMessageBytes: 1024)))
            var offset = 0
            while offset < stream.count {
                let size = min(stream.count - offset, Int.random(in: 1...40, using: &random))
                try channel.writeInbound(ByteBuffer(bytes: stream[offset..<(offset + size)]))
                offset += size
            }
            var received: [String] = []
            while let buffer = try channel.readInbound(as: ByteBuffer.self) { received.append(String(buffer: buffer)) }
            #expect(received == Self.seeds)
            _ = try channel.finish()
        }
        // A message that never ends is refused once it passes the limit.
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(VarlinkFrameDecoder(maxMessageBytes: 1024)))
        #expect(throws: VarlinkFramingError.self) {
            for _ in 0..<100 { try channel.writeInbound(ByteBuffer(repeating: UInt8(ascii: "x"), count: 64)) }
        }
        _ = try? channel.finish()
        // Nor does one whose NUL arrives in the same read as the bytes past the limit.
        let whole = EmbeddedChannel(handler: ByteToMessageHandler(VarlinkFrameDecoder(maxMessageBytes: 1024)))
        #expect(throws: VarlinkFramingError.self) {
            try whole.writeInbound(ByteBuffer(bytes: [UInt8](repeating: UInt8(ascii: "x"), count: 1030) + [0]))
        }
        _ = try? whole.finish()
    }

    /// Only a leading `"method"` of an allowed interface lets a message grow past the small limit:
    /// a nested or second `method` key cannot vouch for it, nor can a restricted connection.
    @Test func onlyTheLeadingMethodMayMakeAMessageLarge() throws {
        func channel(allowed: Bool = true) -> EmbeddedChannel {
            EmbeddedChannel(
                handler: ByteToMessageHandler(
                    VarlinkFrameDecoder(
                        smallMessageBytes: 1024, largeMethodPrefix: "io.jobcontrol.Build.", largeAllowed: { allowed })))
        }
        let padding = String(repeating: "x", count: 4096)
        let build = #"{ "method" : "io.jobcontrol.Build.Log","parameters":{"message":""# + padding + #""}}"# + "\0"
        let accepted = channel()
        try accepted.writeInbound(ByteBuffer(string: build))
        #expect(try accepted.readInbound(as: ByteBuffer.self) != nil)
        _ = try? accepted.finish()

        let nested =
            #"{"a":{"method":"io.jobcontrol.Build.X"},"method":"io.jobcontrol.Manager.ListJobs","parameters":{"p":""#
            + padding + #""}}"# + "\0"
        for message in [nested, #"{"method":"io.jobcontrol.Manager.ListJobs","x":""# + padding + #""}"# + "\0"] {
            let refused = channel()
            #expect(throws: VarlinkFramingError.self) { try refused.writeInbound(ByteBuffer(string: message)) }
            _ = try? refused.finish()
        }
        let restricted = channel(allowed: false)
        #expect(throws: VarlinkFramingError.self) { try restricted.writeInbound(ByteBuffer(string: build)) }
        _ = try? restricted.finish()
    }
}
