/// A job function: receives resolved `args` and `kwargs`, returns the build's return value (any
/// JSON value, or nil), throws to fail the build.
public typealias JobFunction =
    @Sendable (_ context: BuildContext, _ args: [JSONValue], _ kwargs: [String: JSONValue]) async throws -> JSONValue?

/// Maps `module:function` names to functions. The daemon ships the built-ins; a program embedding
/// the library registers its own before loading configuration.
public struct FunctionRegistry: Sendable {
    /// Runs `args` as an argv (strings verbatim, other values as JSON text).
    public static let exec = "jobcontrol:exec"
    /// Runs `args[0]` with `/bin/sh -c`; further args become `$1`, `$2`, …
    public static let shell = "jobcontrol:shell"

    private var functions: [String: JobFunction]
    /// The names still bound to the built-in command functions (not replaced by a registration):
    /// their builds hand their worker back as soon as the command has ended.
    private var builtinCommands: Set<String> = []

    public init() {
        functions = [:]
    }

    /// The registry with the built-in functions.
    public static var builtins: FunctionRegistry {
        var registry = FunctionRegistry()
        registry.register(exec, CommandFunction.exec)
        registry.register(shell, CommandFunction.shell)
        registry.builtinCommands = [exec, shell]
        return registry
    }

    /// Registers `function` under `name` (`module:function`), replacing any earlier one.
    public mutating func register(_ name: String, _ function: @escaping JobFunction) {
        functions[name] = function
        builtinCommands.remove(name)
    }

    /// Whether `name` runs one of the built-in command functions, which run exactly one command:
    /// a function registered in its place (which may run several) is not one.
    func isBuiltinCommand(_ name: String) -> Bool { builtinCommands.contains(name) }

    public func contains(_ name: String) -> Bool { functions[name] != nil }

    public func function(_ name: String) -> JobFunction? { functions[name] }

    public var names: [String] { functions.keys.sorted() }
}
