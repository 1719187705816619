import Dispatch
import FoundationEssentials
import Glibc

extension ConfigLoader {
    /// `secret: {name: value, …}`: every value a string.
    static func readSecrets(_ node: Node, reader: inout YAMLNodeReader, what: String) -> [String: String] {
        guard let entries = reader.mapping(node, what: what) else { return [:] }
        var secrets: [String: String] = [:]
        for entry in entries {
            if let value = reader.string(entry.value, what: "secret '\(entry.key)'") { secrets[entry.key] = value }
        }
        return secrets
    }

    /// A YAML file `{name: value, …}` that only the daemon's user may read (mode 0600 or 0400).
    static func readSecretsFile(
        _ path: String, node: Node, reader: inout YAMLNodeReader, diagnostics: inout [ConfigDiagnostic]
    )
        -> [String: String]
    {
        var status = stat()
        guard stat(path, &status) == 0 else {
            reader.error(node, "cannot read secrets file \(path): \(String(cString: strerror(errno)))")
            return [:]
        }
        if status.st_mode & 0o077 != 0 {
            reader.error(
                node,
                "secrets file \(path) may be read by group or others (mode \(String(status.st_mode & 0o777, radix: 8))); run: chmod 600 \(path)"
            )
            return [:]
        }
        let text: String
        do { text = try readText(path) } catch {
            diagnostics += error.diagnostics
            return [:]
        }
        guard let composed = compose(text, file: path, diagnostics: &diagnostics), let root = composed else {
            return [:]
        }
        var fileReader = YAMLNodeReader(file: path)
        defer { diagnostics += fileReader.diagnostics }
        return readSecrets(root, reader: &fileReader, what: "the secrets file")
    }

    /// `environment: {NAME: value, …}`: names as the shell allows, values strings, `!secret` or
    /// `!param`.
    static func readEnvironment(_ node: Node, reader: inout YAMLNodeReader) -> [String: ConfigValue] {
        guard let entries = reader.mapping(node, what: "'environment'") else { return [:] }
        var environment: [String: ConfigValue] = [:]
        for entry in entries {
            let valid =
                entry.key.first.map { $0 == "_" || ($0.isASCII && $0.isLetter) } == true
                && entry.key.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
            guard valid else {
                reader.error(
                    entry.keyNode,
                    "environment variable name '\(entry.key)' must be letters, digits and '_', not starting with a digit"
                )
                continue
            }
            switch reader.value(entry.value, what: "environment variable \(entry.key)") {
            case .string(let value)?: environment[entry.key] = .string(value)
            case .secret(let name)?: environment[entry.key] = .secret(name)
            case .param(let name)?: environment[entry.key] = .param(name)
            case .int(let value)?: environment[entry.key] = .string(String(value))
            case nil: break
            default: reader.error(entry.value, "environment variable \(entry.key) must be a string, !secret or !param")
            }
        }
        return environment
    }
}
