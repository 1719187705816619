/// A value from a job's `args` or `kwargs`: plain data, or a reference resolved when a build runs.
public indirect enum ConfigValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([ConfigValue])
    case object([String: ConfigValue])
    /// `!retval job`: the return value of the dependency build pinned for this build.
    case retval(String)
    /// `!secret name`: a value from the `secret` section, injected at run time only.
    case secret(String)
    /// `!param name`: the value of one of the job's `parameters` for this build.
    case param(String)
}

extension ConfigValue {
    /// The JSON form stored in a build's config copy. References stay references
    /// (`{"!retval": "job"}`), so a stored config never holds a secret's value.
    public var storedJSON: JSONValue {
        resolve(
            retval: { .object(["!retval": .string($0)]) }, secret: { .object(["!secret": .string($0)]) },
            param: { .object(["!param": .string($0)]) })
    }

    /// Every `!retval` job named anywhere inside this value.
    public var retvalReferences: [String] { references { if case .retval(let job) = $0 { job } else { nil } } }

    /// Every `!secret` name used anywhere inside this value.
    public var secretReferences: [String] { references { if case .secret(let name) = $0 { name } else { nil } } }

    /// Every `!param` name used anywhere inside this value.
    public var paramReferences: [String] { references { if case .param(let name) = $0 { name } else { nil } } }

    private func references(_ name: (ConfigValue) -> String?) -> [String] {
        switch self {
        case .array(let values): return values.flatMap { $0.references(name) }
        case .object(let values): return values.keys.sorted().flatMap { values[$0]!.references(name) }
        default: return name(self).map { [$0] } ?? []
        }
    }

    /// Replaces references with values. `retval` gets the pinned dependency's return value;
    /// `param` a parameter's value for the build.
    public func resolve(
        retval: (String) throws -> JSONValue,
        secret: (String) throws -> JSONValue,
        param: (String) throws -> JSONValue
    ) rethrows -> JSONValue {
        switch self {
        case .null: return .null
        case .bool(let value): return .bool(value)
        case .int(let value): return .int(value)
        case .double(let value): return .double(value)
        case .string(let value): return .string(value)
        case .array(let values):
            return .array(try values.map { try $0.resolve(retval: retval, secret: secret, param: param) })
        case .object(let values):
            return .object(try values.mapValues { try $0.resolve(retval: retval, secret: secret, param: param) })
        case .retval(let job): return try retval(job)
        case .secret(let name): return try secret(name)
        case .param(let name): return try param(name)
        }
    }
}
