import Foundation
import NIOCore
import Testing

@testable import JobControl
@testable import JobControlProtocol

@Suite struct VarlinkTests {
    @Test func callRoundTrip() throws {
        let call = VarlinkCall(method: "io.jobcontrol.Manager.RunJob", parameters: ["job": "a"], more: true)
        let decoded = try VarlinkCall(json: JSONValue.parse(call.json.jsonText()))
        #expect(decoded == call)
        #expect(decoded.interface == "io.jobcontrol.Manager")
        #expect(decoded.methodName == "RunJob")
    }

    @Test func malformedCallsAreErrorsNotCrashes() throws {
        #expect(throws: VarlinkError.self) { try VarlinkCall(json: .array([])) }
        #expect(throws: VarlinkError.self) { try VarlinkCall(json: ["parameters": [:]]) }
        #expect(throws: VarlinkError.self) { try VarlinkCall(json: ["method": "a.B", "parameters": "x"]) }
        #expect(throws: VarlinkError.self) { try JSONValue.decodeMessage(ByteBuffer(string: "{not json")) }
    }

    @Test func errorReplyCarriesNameAndParameters() throws {
        let reply = VarlinkReply(error: .methodNotFound("a.B"))
        #expect(
            reply.json.jsonText() == #"{"error":"org.varlink.service.MethodNotFound","parameters":{"method":"a.B"}}"#)
    }

    @Test func buildWireFormatRoundTrip() throws {
        let build = Build(
            id: 3, jobID: "j", startTime: Date(timeIntervalSince1970: 1_700_000_000.25),
            endTime: Date(timeIntervalSince1970: 1_700_000_001.5), started: true, finished: true, success: false,
            config: ["job": ["id": "j"]], retval: nil, exception: ["type": "X", "message": "m"])
        let wire = WireFormat.build(build)
        #expect(wire["state"] == "FAILED")
        #expect(wire["start_time"] == "2023-11-14T22:13:20.250Z")
        let decoded = try WireFormat.build(from: JSONValue.parse(wire.jsonText()))
        #expect(decoded == build)
    }

    @Test func interfaceDescriptionsNameTheirInterface() {
        for (name, description) in Interfaces.all {
            #expect(description.contains("interface \(name)\n"))
        }
    }
}

@Suite struct JSONTextTests {
    @Test func handWrittenSerializerMatchesTheDecoder() throws {
        let values: [JSONValue] = [
            nil, true, false, 0, -42, .int(Int64.max), 2.5, -0.001, 1e300, "plain", "quote \" backslash \\ slash /",
            "newline\n tab\t return\r bell\u{07} nul\u{00} é ü 日本 🙂", [], [:],
            ["b": [1, ["c": nil]], "a": "x", "": [true, 1.5]],
        ]
        for value in values {
            let text = value.jsonText()
            #expect(try JSONValue.parse(text) == value, "\(text)")
        }
        #expect(JSONValue.object(["b": 1, "a": 2]).jsonText() == #"{"a":2,"b":1}"#)
        #expect(JSONValue.string("a\u{01}").jsonText() == #""a\u0001""#)
        #expect(JSONValue.double(.nan).jsonText() == "null")
    }
}

@Suite struct JSONParserTests {
    @Test func parsesWhatTheStandardAllows() throws {
        #expect(
            try JSONValue.parse(#" {"a" : [1, -2.5e3, 0, true, false, null, "x\u00e9\ud83d\ude42\n"]} "#)
                == ["a": [1, -2500.0, 0, true, false, nil, "xé🙂\n"]])
        #expect(try JSONValue.parse("9223372036854775807") == .int(Int64.max))
        #expect(try JSONValue.parse("92233720368547758070") == .double(9.2233720368547758e19))
        #expect(try JSONValue.parse(#""\/\b\f\t""#) == "/\u{08}\u{0C}\t")
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\":}", "01", "1.", "-", "tru", "\"unterminated", "\"bad \\x escape\"", "[1] 2",
        "{\"a\" 1}", "\"control \u{01} char\"", String(repeating: "[", count: 300) + String(repeating: "]", count: 300),
    ])
    func refusesWhatItDoesNotAllow(_ text: String) {
        #expect(throws: (any Error).self) { try JSONValue.parse(text) }
    }
}
