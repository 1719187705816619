import JobControlModel

/// A Varlink error: a qualified name and its parameters, as sent in a reply.
public struct VarlinkError: Error, Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var parameters: [String: JSONValue]
    /// A sentence for people; sent as the `message` parameter when set.
    public var message: String?

    public init(_ name: String, parameters: [String: JSONValue] = [:], message: String? = nil) {
        self.name = name
        self.parameters = parameters
        self.message = message
        if let message { self.parameters["message"] = .string(message) }
    }

    public var description: String {
        if let message = message ?? parameters["message"]?.stringValue { return "\(name): \(message)" }
        if parameters.isEmpty { return name }
        return "\(name) \(JSONValue.object(parameters).jsonText())"
    }

    // org.varlink.service errors, every service has them.
    public static func interfaceNotFound(_ interface: String) -> VarlinkError {
        VarlinkError("org.varlink.service.InterfaceNotFound", parameters: ["interface": .string(interface)])
    }
    public static func methodNotFound(_ method: String) -> VarlinkError {
        VarlinkError("org.varlink.service.MethodNotFound", parameters: ["method": .string(method)])
    }
    public static func methodNotImplemented(_ method: String) -> VarlinkError {
        VarlinkError("org.varlink.service.MethodNotImplemented", parameters: ["method": .string(method)])
    }
    public static func invalidParameter(_ parameter: String) -> VarlinkError {
        VarlinkError("org.varlink.service.InvalidParameter", parameters: ["parameter": .string(parameter)])
    }
    /// A message that is not a valid call at all (not JSON, not an object, no method).
    public static func invalidMessage(_ message: String) -> VarlinkError {
        VarlinkError("org.varlink.service.InvalidParameter", parameters: ["parameter": "method"], message: message)
    }
}
