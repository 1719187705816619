/// What made a build fail, stored as the build's `exception` (JSON, never pickle).
///
/// `type` is a stable machine-readable name; `message` is for people. Other fields depend on the
/// type: `exit_status` or `signal` and `stderr_tail` for a command, `errno` for a spawn failure.
public struct BuildException: Error, Sendable, Hashable, CustomStringConvertible {
    public var type: String
    public var message: String
    public var details: [String: JSONValue]
    /// Where it happened, in the seed's traceback model; stored as the build's `exception_tb`.
    public var traceback: TracebackInfo?

    public init(type: String, message: String, details: [String: JSONValue] = [:], traceback: TracebackInfo? = nil) {
        self.type = type
        self.message = message
        self.details = details
        self.traceback = traceback
    }

    public var json: JSONValue {
        var object = details
        object["type"] = .string(type)
        object["message"] = .string(message)
        return .object(object)
    }

    public var description: String { "\(type): \(message)" }

    /// Any Swift error as a build exception: our own as they are, others by type and description,
    /// with a traceback frame when the error says where it happened (``ErrorLocation``).
    public init(wrapping error: any Error) {
        if let exception = error as? BuildException {
            self = exception
            return
        }
        var traceback: TracebackInfo?
        if let located = error as? any ErrorLocation {
            traceback = TracebackInfo(frames: [
                .init(filename: located.file, lineNumber: located.line, function: located.function)
            ])
        }
        self.init(
            type: String(reflecting: Swift.type(of: error)), message: String(describing: error), traceback: traceback)
    }
}

/// An error that knows where it was thrown: a Swift job function's error conforming to it is
/// stored with that place as its traceback (capture it with `#fileID`, `#line`, `#function`
/// default arguments in the error's initializer).
public protocol ErrorLocation {
    var file: String { get }
    var line: Int { get }
    var function: String { get }
}
