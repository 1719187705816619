/// A composed YAML node, as the configuration loader reads it: a scalar, a mapping or a sequence,
/// each with its tag, its style and where it starts (``YAMLComposer`` builds them from libyaml's
/// events). Aliases are resolved to the node their anchor names.
///
/// The typed views (`null`, `bool`, `int`, `float`) follow the node's tag (YAML 1.1 booleans
/// such as `yes` and `off`, `0x`/`0o`/`0b` integers, `1_000`, `1:30`), and
/// `ConfigYAMLOracleTests` holds tags and values to Yams' answers over a corpus;
/// docs/architecture.md.
enum Node: Sendable {
    case scalar(Scalar)
    case mapping(Mapping)
    case sequence(Sequence)

    /// A place in the text, counted from 1.
    struct Mark: Sendable, Equatable {
        var line: Int
        var column: Int
    }

    struct Scalar: Sendable {
        var string: String
        var tag: Tag
        /// Plain (unquoted, not a block scalar): only plain scalars are read as null or numbers.
        var isPlain: Bool
        var mark: Mark
    }

    struct Mapping: Sendable, Swift.Sequence {
        var pairs: [(key: Node, value: Node)]
        var tag: Tag
        var mark: Mark

        func makeIterator() -> IndexingIterator<[(key: Node, value: Node)]> { pairs.makeIterator() }
    }

    struct Sequence: Sendable, RandomAccessCollection {
        var nodes: [Node]
        var tag: Tag
        var mark: Mark

        var startIndex: Int { nodes.startIndex }
        var endIndex: Int { nodes.endIndex }
        subscript(position: Int) -> Node { nodes[position] }
    }

    /// A node's tag: as written (`!retval`, `tag:yaml.org,2002:int` for `!!int`), or, when none
    /// is written, the one the YAML 1.1 rules give a plain scalar (``YAMLScalarRules``); quoted
    /// scalars and the non-specific `!` are strings.
    struct Tag: Sendable, Equatable, CustomStringConvertible {
        static let str = Tag(name: "tag:yaml.org,2002:str")
        static let map = Tag(name: "tag:yaml.org,2002:map")
        static let seq = Tag(name: "tag:yaml.org,2002:seq")
        static let null = Tag(name: "tag:yaml.org,2002:null")
        static let bool = Tag(name: "tag:yaml.org,2002:bool")
        static let int = Tag(name: "tag:yaml.org,2002:int")
        static let float = Tag(name: "tag:yaml.org,2002:float")
        static let merge = Tag(name: "tag:yaml.org,2002:merge")
        static let timestamp = Tag(name: "tag:yaml.org,2002:timestamp")
        static let value = Tag(name: "tag:yaml.org,2002:value")

        /// As written in a file: `!!int` for YAML's own tags, the rest as they are.
        var shortName: String {
            name.hasPrefix("tag:yaml.org,2002:") ? "!!" + name.dropFirst("tag:yaml.org,2002:".count) : name
        }

        let name: String
        var description: String { name }
    }

    var mark: Mark {
        switch self {
        case .scalar(let scalar): return scalar.mark
        case .mapping(let mapping): return mapping.mark
        case .sequence(let sequence): return sequence.mark
        }
    }

    var isSequence: Bool {
        if case .sequence = self { return true }
        return false
    }

    var tag: Tag {
        switch self {
        case .scalar(let scalar): return scalar.tag
        case .mapping(let mapping): return mapping.tag
        case .sequence(let sequence): return sequence.tag
        }
    }

    /// The value a scalar's tag gives it. The tag is the one written (`!!int "12"` is 12), or the
    /// one YAML 1.1's rules give an untagged plain scalar (``YAMLScalarRules``): only text that
    /// reads as a whole integer is an integer, so `0-3` or `08:30` stay strings. (Reading any
    /// text that a number parser accepts, as Yams' accessors did, made `CPUS: 0-3` the number
    /// -3.) Quoted scalars and the non-specific `!` are strings.
    ///
    /// `null` for the null tag (`~`, `null`, `Null`, `NULL` or nothing, unquoted; or `!!null`).
    var null: Void? {
        guard case .scalar(let scalar) = self, scalar.tag == .null else { return nil }
        return ()
    }

    /// `true`/`yes`/`on` and `false`/`no`/`off` in any case, for the bool tag.
    var bool: Bool? {
        guard case .scalar(let scalar) = self, scalar.tag == .bool else { return nil }
        switch scalar.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: return nil
        }
    }

    /// For the int tag: decimal, `0x`, `0o` or a leading `0` (octal), `0b`, `_` between digits,
    /// or base 60 (`1:30` is 90); `nil` past `Int`'s range.
    var int: Int? {
        guard case .scalar(let scalar) = self, scalar.tag == .int else { return nil }
        return YAMLScalarRules.integer(scalar.string)
    }

    /// For the float tag: decimals and exponents, `.inf`, `.nan`, `_` between digits, base 60.
    var float: Double? {
        guard case .scalar(let scalar) = self, scalar.tag == .float else { return nil }
        return YAMLScalarRules.double(scalar.string)
    }
}
