import FoundationEssentials
import JobControlModel

/// A Varlink method call: `{"method": "iface.Method", "parameters": {…}, "more": true}`.
public struct VarlinkCall: Sendable, Hashable {
    public var method: String
    public var parameters: [String: JSONValue]
    /// The caller accepts several replies (`continues: true` on all but the last).
    public var more: Bool
    /// The caller wants no reply at all.
    public var oneway: Bool

    public init(method: String, parameters: [String: JSONValue] = [:], more: Bool = false, oneway: Bool = false) {
        self.method = method
        self.parameters = parameters
        self.more = more
        self.oneway = oneway
    }

    /// The interface part of `method` (`io.jobcontrol.Manager` of `io.jobcontrol.Manager.ListJobs`).
    public var interface: String {
        guard let dot = method.lastIndex(of: ".") else { return "" }
        return String(method[..<dot])
    }

    /// The method name without its interface.
    public var methodName: String {
        guard let dot = method.lastIndex(of: ".") else { return method }
        return String(method[method.index(after: dot)...])
    }

    public var json: JSONValue {
        var object: [String: JSONValue] = ["method": .string(method)]
        if !parameters.isEmpty { object["parameters"] = .object(parameters) }
        if more { object["more"] = true }
        if oneway { object["oneway"] = true }
        return .object(object)
    }

    /// Reads a call from a decoded message; a malformed one is an ``VarlinkError/invalidParameter``.
    public init(json: JSONValue) throws(VarlinkError) {
        guard case .object(let object) = json else { throw .invalidMessage("a call must be a JSON object") }
        guard let method = object["method"]?.stringValue, !method.isEmpty else {
            throw .invalidMessage("a call needs a \"method\" string")
        }
        self.method = method
        switch object["parameters"] {
        case nil, .null?: parameters = [:]
        case .object(let value)?: parameters = value
        default: throw .invalidParameter("parameters")
        }
        more = object["more"]?.boolValue ?? false
        oneway = object["oneway"]?.boolValue ?? false
    }
}

/// A Varlink reply: parameters, or an error name with its parameters.
public struct VarlinkReply: Sendable, Hashable {
    public var parameters: [String: JSONValue]
    /// More replies follow (only when the call said `more`).
    public var continues: Bool
    /// A qualified error name, such as `io.jobcontrol.Manager.NoSuchJob`.
    public var error: String?

    public init(parameters: [String: JSONValue] = [:], continues: Bool = false, error: String? = nil) {
        self.parameters = parameters
        self.continues = continues
        self.error = error
    }

    public init(error: VarlinkError) {
        self.init(parameters: error.parameters, error: error.name)
    }

    public var json: JSONValue {
        var object: [String: JSONValue] = ["parameters": .object(parameters)]
        if continues { object["continues"] = true }
        if let error { object["error"] = .string(error) }
        return .object(object)
    }

    public init(json: JSONValue) throws(VarlinkError) {
        guard case .object(let object) = json else { throw .invalidMessage("a reply must be a JSON object") }
        if case .object(let value)? = object["parameters"] { parameters = value } else { parameters = [:] }
        continues = object["continues"]?.boolValue ?? false
        error = object["error"]?.stringValue
    }
}
