import Dispatch
import FoundationEssentials
import Glibc

/// Walks a composed YAML tree and turns nodes into typed values, collecting every problem with its
/// file, line and column instead of stopping at the first.
struct YAMLNodeReader {
    let file: String
    private(set) var diagnostics: [ConfigDiagnostic] = []

    mutating func appendDiagnostic(_ diagnostic: ConfigDiagnostic) {
        diagnostics.append(diagnostic)
    }

    init(file: String) {
        self.file = file
    }

    func location(_ node: Node?) -> SourceLocation {
        let mark = node?.mark
        return SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    mutating func error(_ node: Node?, _ message: String) {
        diagnostics.append(ConfigDiagnostic(location(node), message))
    }

    static func typeName(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar:
            if node.null != nil { return "null" }
            if node.bool != nil { return "a boolean" }
            if node.int != nil { return "an integer" }
            if node.float != nil { return "a number" }
            return "a string"
        }
    }

    /// The entries of a mapping with string keys; reports anything else.
    mutating func mapping(_ node: Node, what: String) -> [(key: String, keyNode: Node, value: Node)]? {
        guard case .mapping(let mapping) = node else {
            error(node, "\(what) must be a mapping, found \(Self.typeName(node))")
            return nil
        }
        var entries: [(key: String, keyNode: Node, value: Node)] = []
        var seen: Set<String> = []
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                error(keyNode, "keys of \(what) must be strings")
                continue
            }
            if !seen.insert(scalar.string).inserted {
                error(keyNode, "duplicate key '\(scalar.string)' in \(what)")
                continue
            }
            entries.append((scalar.string, keyNode, value))
        }
        return entries
    }

    /// Reports a key that is not one of `known`, suggesting the closest known key.
    mutating func unknownKey(_ key: String, _ keyNode: Node, in what: String, known: [String]) {
        var message = "unknown key '\(key)' in \(what)"
        if let suggestion = Self.closest(to: key, in: known) {
            message += "; did you mean '\(suggestion)'?"
        } else {
            message += "; expected one of: \(known.joined(separator: ", "))"
        }
        error(keyNode, message)
    }

    mutating func string(_ node: Node, what: String) -> String? {
        guard case .scalar(let scalar) = node, node.null == nil, !Self.isCustomTag(node) else {
            error(node, "\(what) must be a string, found \(Self.typeName(node))")
            return nil
        }
        return scalar.string
    }

    mutating func int(_ node: Node, what: String) -> Int? {
        guard case .scalar = node, let value = node.int else {
            error(node, "\(what) must be an integer, found \(Self.typeName(node))")
            return nil
        }
        return value
    }

    mutating func bool(_ node: Node, what: String) -> Bool? {
        guard case .scalar = node, !Self.isCustomTag(node), let value = node.bool else {
            error(node, "\(what) must be true or false, found \(Self.typeName(node))")
            return nil
        }
        return value
    }

    mutating func stringList(_ node: Node, what: String) -> [String]? {
        guard case .sequence(let sequence) = node else {
            error(node, "\(what) must be a list of strings, found \(Self.typeName(node))")
            return nil
        }
        var values: [String] = []
        for item in sequence {
            if let value = string(item, what: "each item of \(what)") { values.append(value) }
        }
        return values
    }

    /// Any YAML value as a ``ConfigValue``, honouring the `!retval`, `!secret` and `!param` tags.
    mutating func value(_ node: Node, what: String) -> ConfigValue? {
        let tag = node.tag.description
        switch node {
        case .sequence(let sequence):
            var values: [ConfigValue] = []
            for item in sequence {
                guard let value = value(item, what: what) else { return nil }
                values.append(value)
            }
            return .array(values)
        case .mapping:
            guard let entries = mapping(node, what: what) else { return nil }
            var values: [String: ConfigValue] = [:]
            for entry in entries {
                guard let value = value(entry.value, what: what) else { return nil }
                values[entry.key] = value
            }
            return .object(values)
        case .scalar(let scalar):
            switch tag {
            case "!retval", "!secret", "!param":
                let name = scalar.string.trimmingBlanks()
                guard !name.isEmpty else {
                    error(node, "\(tag) needs a name, as in '\(tag) backup'")
                    return nil
                }
                return tag == "!retval" ? .retval(name) : tag == "!param" ? .param(name) : .secret(name)
            case _ where Self.isCustomTag(node):
                error(node, "unknown tag '\(tag)' in \(what); expected !retval, !secret or !param")
                return nil
            default:
                if node.null != nil { return .null }
                if let value = node.bool { return .bool(value) }
                if let value = node.int { return .int(Int64(value)) }
                if let value = node.float { return .double(value) }
                return .string(scalar.string)
            }
        }
    }

    /// A local tag such as `!retval`; the plain `!` (quoted, non-specific) tag is not one.
    static func isCustomTag(_ node: Node) -> Bool {
        let tag = node.tag.description
        return tag.hasPrefix("!") && tag != "!"
    }

    /// The known word nearest to `word` by edit distance, if it is plausibly a typo of it.
    static func closest(to word: String, in known: [String]) -> String? {
        let scored = known.map { ($0, editDistance(word.lowercased(), $0)) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, word.count / 3) else { return nil }
        return best.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = previous
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
