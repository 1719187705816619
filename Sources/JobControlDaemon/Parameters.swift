import JobControl
import JobControlProtocol

/// Typed access to a call's parameters; a missing or mistyped one is
/// `org.varlink.service.InvalidParameter` naming it.
struct Parameters {
    let values: [String: JSONValue]

    init(_ call: VarlinkCall) {
        values = call.parameters
    }

    func string(_ name: String) throws(VarlinkError) -> String {
        guard let value = try optionalString(name) else { throw .invalidParameter(name) }
        return value
    }

    func optionalString(_ name: String) throws(VarlinkError) -> String? {
        switch values[name] {
        case nil, .null?: return nil
        case .string(let value)?: return value
        default: throw .invalidParameter(name)
        }
    }

    func int(_ name: String) throws(VarlinkError) -> Int64 {
        guard let value = try optionalInt(name) else { throw .invalidParameter(name) }
        return value
    }

    func optionalInt(_ name: String) throws(VarlinkError) -> Int64? {
        switch values[name] {
        case nil, .null?: return nil
        case let value?:
            guard let int = value.intValue else { throw .invalidParameter(name) }
            return int
        }
    }

    func optionalBool(_ name: String) throws(VarlinkError) -> Bool? {
        switch values[name] {
        case nil, .null?: return nil
        case .bool(let value)?: return value
        default: throw .invalidParameter(name)
        }
    }
}
