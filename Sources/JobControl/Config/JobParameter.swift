import Dispatch
import FoundationEssentials
import Glibc

/// One parameter a job declares (`parameters:`): a value given when the job is run
/// (`jobctl run JOB -p name=value`), by a schedule, or by its default. A build's command sees it
/// as `JOBCONTROL_PARAM_<NAME>` and as `!param name` in `args`, `kwargs` and `environment`;
/// a Swift function gets it typed from ``BuildContext/parameters``.
public struct JobParameter: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case string
        case integer
        case boolean
        /// One of the listed strings.
        case choice([String])

        public var name: String {
            switch self {
            case .string: "string"
            case .integer: "integer"
            case .boolean: "boolean"
            case .choice: "choice"
            }
        }
    }

    public var name: String
    public var kind: Kind
    /// Used when a run gives no value. A `!secret` reference is allowed for secret parameters.
    public var defaultValue: ConfigValue?
    /// A run must give a value (there is no default).
    public var required = false
    public var description: String?
    /// The value is masked wherever it would be shown or stored: the build's stored config
    /// keeps `***` (or the `!secret` reference), and its log and output mask the value.
    public var secret = false
    public var location: SourceLocation?

    public init(name: String, kind: Kind) {
        self.name = name
        self.kind = kind
    }

    /// `[A-Za-z_][A-Za-z0-9_]*`: usable in an environment variable's name.
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.first, first == "_" || (first.isASCII && first.isLetter) else { return false }
        return name.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
    }

    /// The environment variable a command sees the value in.
    public var environmentName: String { "JOBCONTROL_PARAM_" + name.uppercased() }

    /// Checks a value given as JSON (a typed value, or text as `-p name=value` gives it) and
    /// returns it typed: integers as numbers, booleans as booleans.
    public func validate(_ value: JSONValue) throws(ParameterError) -> JSONValue {
        switch (kind, value) {
        case (.string, .string): return value
        case (.string, .int(let number)): return .string(String(number))
        case (.integer, .int): return value
        case (.integer, .string(let text)):
            let trimmed = text.trimmingBlanks()
            guard let number = Int64(trimmed) else { throw .invalid(name, "expected an integer, found \(shown(text))") }
            return .int(number)
        case (.integer, .double(let number)) where number == number.rounded() && abs(number) < 9e15:
            return .int(Int64(number))
        case (.boolean, .bool): return value
        case (.boolean, .string(let text)):
            switch text.lowercased() {
            case "true", "yes", "on", "1": return .bool(true)
            case "false", "no", "off", "0": return .bool(false)
            default: throw .invalid(name, "expected true or false, found \(shown(text))")
            }
        case (.choice(let choices), .string(let text)):
            guard choices.contains(text) else {
                throw .invalid(name, "\(shown(text)) is not one of \(choices.joined(separator: ", "))")
            }
            return value
        default:
            throw .invalid(
                name, "expected \(kind.name == "integer" ? "an" : "a") \(kind.name), found \(value.typeName)")
        }
    }

    /// A refused value as an error message shows it: quoted, or not at all for a secret.
    private func shown(_ text: String) -> String { secret ? "a value (secret, not shown)" : "'\(text)'" }

    /// As shown by `jobctl show` and stored with the job's config.
    public var json: JSONValue {
        var object: [String: JSONValue] = ["name": .string(name), "type": .string(kind.name)]
        if case .choice(let choices) = kind { object["choices"] = .array(choices.map { .string($0) }) }
        if let defaultValue { object["default"] = secret ? Self.masked(defaultValue) : defaultValue.storedJSON }
        if required { object["required"] = true }
        if let description { object["description"] = .string(description) }
        if secret { object["secret"] = true }
        return .object(object)
    }

    /// What a secret value is stored and shown as: its `!secret` reference, else `***`.
    static func masked(_ value: ConfigValue) -> JSONValue {
        if case .secret = value { return value.storedJSON }
        return .string("***")
    }
}

/// A parameter value refused, with the parameter's name and what is wrong.
public enum ParameterError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalid(String, String)
    case unknown(job: String, name: String, declared: [String])
    case missing(job: String, names: [String])
    case malformed(String)

    public var description: String {
        switch self {
        case .invalid(let name, let reason): "parameter '\(name)': \(reason)"
        case .unknown(let job, let name, let declared):
            declared.isEmpty
                ? "job '\(job)' declares no parameters, so '\(name)' cannot be given"
                : "job '\(job)' has no parameter '\(name)'; it declares: \(declared.joined(separator: ", "))"
        case .missing(let job, let names):
            "job '\(job)' needs a value for \(names.map { "'\($0)'" }.joined(separator: ", ")): run it with -p NAME=VALUE"
        case .malformed(let text): text
        }
    }
}

extension JSONValue {
    /// "a string", "an integer"… for messages.
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int: "an integer"
        case .double: "a number"
        case .string: "a string"
        case .array: "a list"
        case .object: "a mapping"
        }
    }
}

/// The parameter values of a new build.
public struct BoundParameters: Sendable, Hashable {
    /// As stored in the build's config (`build.parameters`): a secret parameter's value as its
    /// `!secret` reference or `***`.
    public var stored: [String: JSONValue] = [:]
    /// The values of secret parameters that have no `!secret` reference, held in the daemon's
    /// memory only (never stored), by name.
    public var secretValues: [String: JSONValue] = [:]

    public init() {}
}

extension JobConfig {
    public func parameter(named name: String) -> JobParameter? { parameters.first { $0.name == name } }

    /// Checks the values a run gives (`given`: typed JSON, or text as `-p name=value` gives it)
    /// over those its schedule gives, over the defaults, and returns them as the build keeps them.
    /// A required parameter without a value, an unknown name or a bad value is refused.
    public func bindParameters(given: [String: JSONValue], schedule: [String: ConfigValue] = [:])
        throws(ParameterError) -> BoundParameters
    {
        for name in given.keys.sorted() where parameter(named: name) == nil {
            throw .unknown(job: id, name: name, declared: parameters.map(\.name))
        }
        var bound = BoundParameters()
        var missing: [String] = []
        for parameter in parameters {
            let configured = schedule[parameter.name] ?? parameter.defaultValue
            if let value = given[parameter.name] {
                bound.keep(try parameter.validate(value), of: parameter)
            } else if case .secret? = configured {
                bound.stored[parameter.name] = configured!.storedJSON  // resolved when the build runs
            } else if let configured {
                bound.keep(try parameter.validate(configured.storedJSON), of: parameter)
            } else if parameter.required {
                missing.append(parameter.name)
            }
        }
        if !missing.isEmpty { throw .missing(job: id, names: missing) }
        return bound
    }

    /// The values a running build gets, typed: stored ones as they are, a `!secret` reference
    /// resolved from `secrets`, a masked one (`***` of a secret parameter) from `memory`.
    /// `secretWhenCreated`: the parameters that were secret when the build was created (a reload
    /// may have changed that since): their stored `***` is never a value.
    func parameterValues(
        stored: [String: JSONValue], memory: [String: JSONValue], secrets: [String: String],
        secretWhenCreated: Set<String> = []
    ) throws(BuildException) -> [String: JSONValue] {
        var values: [String: JSONValue] = [:]
        for (name, value) in stored {
            guard let parameter = parameter(named: name) else { continue }  // no longer declared
            if case .object(let reference) = value, case .string(let secret)? = reference["!secret"] {
                guard let text = secrets[secret] else {
                    throw BuildException(type: "SecretUnavailable", message: "secret '\(secret)' is not configured")
                }
                do { values[name] = try parameter.validate(.string(text)) } catch {
                    throw BuildException(type: "InvalidParameter", message: "\(error) (from secret '\(secret)')")
                }
            } else if value == "***", parameter.secret || secretWhenCreated.contains(name) {
                guard let held = memory[name] else {
                    throw BuildException(
                        type: "ParameterUnavailable",
                        message:
                            "the value of secret parameter '\(name)' is held only by the daemon that accepted the run, which no longer has it (a restart, or another daemon of the cluster took the build); run the job again"
                    )
                }
                values[name] = held
            } else {
                values[name] = value
            }
        }
        return values
    }
}

extension BoundParameters {
    fileprivate mutating func keep(_ value: JSONValue, of parameter: JobParameter) {
        if parameter.secret {
            stored[parameter.name] = .string("***")
            secretValues[parameter.name] = value
        } else {
            stored[parameter.name] = value
        }
    }
}
