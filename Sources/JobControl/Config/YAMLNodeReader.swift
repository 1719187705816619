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
        // `command: !secret token` is a string to YAML, but not one this field can take.
        if isCustomTag(node) {
            return "a value tagged \(node.tag.shortName), which this field does not take"
        }
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar:
            switch node.tag {
            case .null: return "null"
            case .bool: return "a boolean"
            case .int: return "an integer"
            case .float: return "a number"
            default: return "a string"
            }
        }
    }

    /// The entries of a mapping with string keys; reports anything else. A merge key (`<<: *base`,
    /// or `<<: [*a, *b]`) adds the entries of the mappings it names that the mapping does not
    /// have itself (YAML 1.1's merge: its own keys win, and earlier mappings over later ones).
    mutating func mapping(_ node: Node, what: String) -> [(key: String, keyNode: Node, value: Node)]? {
        guard case .mapping(let given) = node else {
            error(node, "\(what) must be a mapping, found \(Self.typeName(node))")
            return nil
        }
        var entries: [(key: String, keyNode: Node, value: Node)] = []
        var seen: Set<String> = []
        var merged: [(key: String, keyNode: Node, value: Node)] = []
        for (keyNode, value) in given {
            guard case .scalar(let scalar) = keyNode else {
                error(keyNode, "keys of \(what) must be strings")
                continue
            }
            if scalar.tag == .merge {
                let sources: [Node]
                switch value {
                case .mapping: sources = [value]
                case .sequence(let list): sources = list.nodes
                case .scalar: sources = [value]
                }
                for source in sources {
                    guard case .mapping = source else {
                        error(source, "'<<' merges a mapping or a list of mappings, found \(Self.typeName(source))")
                        continue
                    }
                    merged += mapping(source, what: what) ?? []
                }
                continue
            }
            if !seen.insert(scalar.string).inserted {
                error(keyNode, "duplicate key '\(scalar.string)' in \(what)")
                continue
            }
            entries.append((scalar.string, keyNode, value))
        }
        for entry in merged where seen.insert(entry.key).inserted { entries.append(entry) }
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
        guard case .scalar = node, !Self.isCustomTag(node), let value = node.int else {
            if node.tag == .int, !Self.isCustomTag(node), case .scalar(let scalar) = node {
                error(node, "\(what) is out of range: \(scalar.string)")
            } else {
                error(node, "\(what) must be an integer, found \(Self.typeName(node))")
            }
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

    /// Any YAML value as a ``ConfigValue``, honouring the `!retval`, `!secret` and `!param` tags;
    /// its type is the one its tag gives (``Node``). An integer past Int64's range keeps its text
    /// (as a string: a long ID passed as an argument stays exact, where it became an inexact
    /// float); infinity and NaN are refused, as builds' values are JSON. A tag this loader does
    /// not know is an error, not a string: `!!secret` for `!secret` would otherwise pass the
    /// name itself as the value.
    mutating func value(_ node: Node, what: String) -> ConfigValue? {
        let tag = node.tag.description
        switch node {
        case .sequence where node.tag != .seq, .mapping where node.tag != .map:
            error(
                node,
                "the tag '\(node.tag.shortName)' cannot be put on a \(node.isSequence ? "list" : "mapping") in \(what); !retval, !secret and !param tag a name"
            )
            return nil
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
            case _ where !Self.isKnownScalarTag(node.tag):
                var message = "unknown tag '\(node.tag.shortName)' in \(what); expected !retval, !secret or !param"
                if let name = node.tag.shortName.split(separator: "!").last,
                    ["retval", "secret", "param"].contains(String(name)), node.tag.shortName != "!\(name)"
                {
                    message += " (did you mean '!\(name)'?)"
                }
                error(node, message)
                return nil
            default:
                switch node.tag {
                case .null: return .null
                case .bool:
                    guard let value = node.bool else {
                        error(node, "'\(scalar.string)' in \(what) is not a boolean (it is tagged !!bool)")
                        return nil
                    }
                    return .bool(value)
                case .int:
                    if let value = node.int { return .int(Int64(value)) }
                    guard scalar.isPlain, YAMLScalarRules.isInt(Array(scalar.string.utf8)) else {
                        error(node, "'\(scalar.string)' in \(what) is not an integer (it is tagged !!int)")
                        return nil
                    }
                    return .string(scalar.string)  // past Int64: exact as text
                case .float:
                    guard let value = node.float else {
                        error(node, "'\(scalar.string)' in \(what) is not a number (it is tagged !!float)")
                        return nil
                    }
                    guard value.isFinite else {
                        error(
                            node,
                            "'\(scalar.string)' in \(what) is not a finite number, and builds' values are JSON, which has none; quote it to pass it as text"
                        )
                        return nil
                    }
                    return .double(value)
                default:
                    return .string(scalar.string)
                }
            }
        }
    }

    /// The tags a scalar may carry here besides `!retval`, `!secret` and `!param`: YAML's own
    /// (a timestamp, `<<` and `=` as values are text).
    static func isKnownScalarTag(_ tag: Node.Tag) -> Bool {
        [.str, .null, .bool, .int, .float, .timestamp, .merge, .value].contains(tag) || tag.name == "!"
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
