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
        #expect(reply.json.jsonText() == #"{"error":"org.varlink.service.MethodNotFound","parameters":{"method":"a.B"}}"#)
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
