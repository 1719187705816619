import Dispatch
import FoundationEssentials
import Glibc

/// A job's `parameters:` and the values schedules give them.
extension ConfigLoader {
    static let parameterKeys = ["type", "choices", "default", "required", "description", "secret"]

    /// `parameters: {name: {type: …, choices: […], default: …, required: …, description: …,
    /// secret: …}}`, or `name: TYPE` for short. Order is kept as written.
    static func readParameters(_ node: Node, reader: inout YAMLNodeReader) -> [JobParameter] {
        guard let entries = reader.mapping(node, what: "'parameters'") else { return [] }
        var parameters: [JobParameter] = []
        var variables: [String: String] = [:]
        for entry in entries {
            guard JobParameter.isValidName(entry.key) else {
                reader.error(
                    entry.keyNode,
                    "parameter name '\(entry.key)' must be letters, digits and '_', not starting with a digit")
                continue
            }
            let variable = "JOBCONTROL_PARAM_" + entry.key.uppercased()
            if let other = variables[variable] {
                reader.error(
                    entry.keyNode,
                    "parameter '\(entry.key)' would be $\(variable), as '\(other)' is; rename one"
                )
                continue
            }
            variables[variable] = entry.key
            if let parameter = readParameter(entry.key, entry.value, reader: &reader) { parameters.append(parameter) }
        }
        return parameters
    }

    private static func readParameter(_ name: String, _ node: Node, reader: inout YAMLNodeReader) -> JobParameter? {
        let what = "parameter '\(name)'"
        var fields: [String: (keyNode: Node, value: Node)] = [:]
        if case .scalar = node {
            fields["type"] = (node, node)
        } else if let entries = reader.mapping(node, what: what) {
            for entry in entries {
                if parameterKeys.contains(entry.key) {
                    fields[entry.key] = (entry.keyNode, entry.value)
                } else {
                    reader.unknownKey(entry.key, entry.keyNode, in: what, known: parameterKeys)
                }
            }
        } else {
            return nil
        }
        var kind = JobParameter.Kind.string
        if let type = fields["type"], let text = reader.string(type.value, what: "\(what)'s type") {
            switch text {
            case "string": kind = .string
            case "integer", "int": kind = .integer
            case "boolean", "bool": kind = .boolean
            case "choice":
                guard let choices = fields["choices"] else {
                    reader.error(type.value, "\(what) is a choice: list them in 'choices'")
                    return nil
                }
                guard let list = reader.stringList(choices.value, what: "\(what)'s choices"), !list.isEmpty else {
                    reader.error(choices.value, "\(what)'s 'choices' must be a non-empty list of strings")
                    return nil
                }
                kind = .choice(list)
            default:
                reader.error(type.value, "\(what)'s type must be string, integer, boolean or choice, found '\(text)'")
                return nil
            }
        }
        if case .choice = kind {
        } else if let choices = fields["choices"] {
            reader.error(choices.keyNode, "'choices' applies only to a parameter of type choice")
        }
        var parameter = JobParameter(name: name, kind: kind)
        parameter.location = reader.location(node)
        if let entry = fields["description"] {
            parameter.description = reader.string(entry.value, what: "\(what)'s description")
        }
        if let entry = fields["required"], let value = reader.bool(entry.value, what: "\(what)'s 'required'") {
            parameter.required = value
        }
        if let entry = fields["secret"], let value = reader.bool(entry.value, what: "\(what)'s 'secret'") {
            parameter.secret = value
            if value, kind == .boolean || kind.name == "choice" {
                // Masking `true` or `prod` in every log line would hide more than the value, and
                // show it by where the masks fall.
                reader.error(entry.keyNode, "'secret' applies to string and integer parameters, not to a \(kind.name)")
            }
        }
        if let entry = fields["default"], let value = reader.value(entry.value, what: "\(what)'s default") {
            if checkParameterValue(value, for: parameter, node: entry.value, reader: &reader) {
                parameter.defaultValue = value
            }
            if parameter.required {
                reader.error(entry.keyNode, "\(what) is required, so a default would never be used; drop one of them")
            }
        }
        // Kept even when a field of it is wrong (its error is reported, so the configuration is
        // refused anyway): dropping it made every schedule that gives it a value report, falsely,
        // that the job has no such parameter.
        return parameter
    }

    /// A value written in the configuration (a default, a schedule's) checked against its
    /// parameter: `!secret` only for secret parameters (its type is checked when a build runs).
    @discardableResult
    static func checkParameterValue(
        _ value: ConfigValue, for parameter: JobParameter, node: Node, reader: inout YAMLNodeReader
    ) -> Bool {
        if case .secret = value {
            guard parameter.secret else {
                reader.error(node, "parameter '\(parameter.name)' takes !secret only with 'secret: true'")
                return false
            }
            return true
        }
        if parameter.secret {
            reader.error(
                node,
                "secret parameter '\(parameter.name)' takes its value here as !secret NAME (from 'secret' or 'secrets_file'), so the value is not in this file"
            )
            return false
        }
        switch value {
        case .retval, .param, .array, .object:
            reader.error(node, "parameter '\(parameter.name)' takes a plain value here")
            return false
        default:
            do {
                _ = try parameter.validate(value.storedJSON)
                return true
            } catch {
                reader.error(node, error.description)
                return false
            }
        }
    }

    /// The values a schedule gives: each a declared parameter, each valid.
    static func checkScheduleParameters(
        _ values: [String: ConfigValue], declared: [JobParameter], node: Node, reader: inout YAMLNodeReader
    ) {
        for name in values.keys.sorted() {
            guard let parameter = declared.first(where: { $0.name == name }) else {
                reader.error(
                    node,
                    ParameterError.unknown(job: "this", name: name, declared: declared.map(\.name)).description
                        .replacing("job 'this'", with: "the job"))
                continue
            }
            checkParameterValue(values[name]!, for: parameter, node: node, reader: &reader)
        }
    }

    /// Every `!param` in args, kwargs and environment names a declared parameter.
    static func checkParameterReferences(_ job: JobConfig, node: Node, reader: inout YAMLNodeReader) {
        for name in Set(job.paramReferences).sorted() where job.parameter(named: name) == nil {
            reader.error(
                node,
                "job '\(job.id)' uses !param \(name), but its 'parameters' do not declare '\(name)'"
                    + (job.parameters.isEmpty
                        ? "" : " (declared: \(job.parameters.map(\.name).joined(separator: ", ")))"))
        }
    }
}
