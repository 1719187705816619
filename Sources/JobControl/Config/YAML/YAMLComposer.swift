import CLibYAML

/// A YAML text that does not parse, or that has the same key twice in a mapping: what is wrong
/// (libyaml's words) and where.
struct YAMLSyntaxError: Error, Sendable {
    var problem: String
    var mark: Node.Mark
    /// What libyaml was reading when it failed, and where that began ("while scanning a quoted
    /// scalar" at the opening quote): an unclosed quote or bracket is noticed only at the end of
    /// the file, far from the typo.
    var context: Context? = nil

    struct Context: Sendable, Equatable {
        var text: String
        var mark: Node.Mark
    }

    /// Where an editor should jump: the start of an unclosed quoted scalar or flow collection,
    /// else the place the problem was found.
    var place: Node.Mark {
        guard let context, context.text.contains("quoted scalar") || context.text.contains("flow") else { return mark }
        return context.mark
    }

    /// The problem with its context, each with its line where it is not ``place``.
    var message: String {
        guard let context, context.mark != mark else { return problem }
        func at(_ mark: Node.Mark) -> String { "line \(mark.line), column \(mark.column)" }
        if place == context.mark { return "\(problem) at \(at(mark)), \(context.text) that starts here" }
        return "\(problem) (\(context.text) that starts at \(at(context.mark)))"
    }
}

/// Turns YAML text into one ``Node`` tree with libyaml's parser, reading its events as Yams did
/// (the loader was written against Yams): one document at most, anchors and aliases resolved,
/// every node with its tag and place, and a key that appears twice in a mapping refused.
///
/// Limits keep a hostile or broken file from stopping the daemon, counted as if every alias were
/// replaced by what it names (that is how the loader walks the tree, and how a job's arguments
/// are stored with each build): nesting deeper than ``maximumDepth`` (each level is a frame here
/// and in the loader; 5,000 levels overflowed the stack), more than ``maximumNodes`` values (nine
/// levels of nine aliases each are 387 million) or more than ``maximumBytes`` of text.
///
/// libyaml is the parser; what is ours is the tree and the typing of scalars (``Node``). Not
/// Yams, which brings Foundation and with it ICU into the daemon (docs/performance.md).
enum YAMLComposer {
    static let maximumDepth = 100
    static let maximumNodes = 1_000_000
    static let maximumBytes = 64 << 20

    /// The root node of `text`, or `nil` if the text holds no document (empty, or only comments).
    static func compose(_ text: String) throws(YAMLSyntaxError) -> Node? {
        var bytes = Array(text.utf8)
        if bytes.isEmpty { bytes = [0x0A] }  // libyaml needs a buffer; a newline is an empty stream
        let result = bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(YAMLSyntaxError) -> Node? in try Composer(buffer).root() }
        }
        return try result.get()
    }
}

/// What a node stands for once its aliases are expanded: values, bytes of text, levels.
private struct Weight {
    var nodes = 1
    var bytes = 0
    var height = 1

    /// This collection with `child` added.
    mutating func add(_ child: Weight) {
        nodes += child.nodes
        bytes += child.bytes
        height = max(height, child.height + 1)
    }
}

/// One parse: libyaml's parser state and the anchors seen so far. Used for one `root()` (owned by
/// one call of ``YAMLComposer/compose(_:)``; the parser is freed with the object).
private final class Composer {
    private let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
    /// Each anchored node with its weight.
    private var anchors: [String: (node: Node, weight: Weight)] = [:]
    /// How many collections enclose the node being read.
    private var depth = 0
    /// The whole tree's weight so far.
    private var total = Weight()
    private let text: UnsafeBufferPointer<UInt8>

    init(_ text: UnsafeBufferPointer<UInt8>) throws(YAMLSyntaxError) {
        self.text = text
        parser.initialize(to: yaml_parser_t())
        // On failure libyaml leaves the parser empty, and deinit (which runs: every property is
        // set) deletes and frees it as after a parse.
        guard yaml_parser_initialize(parser) == 1 else {
            throw YAMLSyntaxError(problem: "out of memory", mark: .init(line: 1, column: 1))
        }
        yaml_parser_set_input_string(parser, text.baseAddress, text.count)
    }

    deinit {
        yaml_parser_delete(parser)
        parser.deallocate()
    }

    func root() throws(YAMLSyntaxError) -> Node? {
        _ = try next()  // the stream's start
        let first = try next()
        guard first.type != YAML_STREAM_END_EVENT else { return nil }
        // first is the document's start
        let (node, _) = try load(try next())
        _ = try next()  // the document's end
        let after = try next()
        guard after.type == YAML_STREAM_END_EVENT else {
            throw YAMLSyntaxError(problem: "but found another document", mark: after.mark)
        }
        return node
    }

    /// The node that starts with `event`, and its weight.
    private func load(_ event: Event) throws(YAMLSyntaxError) -> (Node, Weight) {
        switch event.type {
        case YAML_ALIAS_EVENT:
            guard let anchored = anchors[event.anchor ?? ""] else {
                throw YAMLSyntaxError(problem: "found undefined alias", mark: event.mark)
            }
            try count(anchored.weight, at: event)
            return anchored
        case YAML_SCALAR_EVENT:
            let scalar = event.scalar
            let weight = Weight(bytes: scalar.string.utf8.count)
            try count(weight, at: event)
            let node = Node.scalar(scalar)
            register(event.anchor, node, weight)
            return (node, weight)
        case YAML_SEQUENCE_START_EVENT:
            try enter(event)
            defer { depth -= 1 }
            var nodes: [Node] = []
            var weight = Weight(bytes: 0)
            var item = try next()
            while item.type != YAML_SEQUENCE_END_EVENT {
                let (node, itemWeight) = try load(item)
                nodes.append(node)
                weight.add(itemWeight)
                item = try next()
            }
            let node = Node.sequence(.init(nodes: nodes, tag: event.collectionTag ?? .seq, mark: event.mark))
            register(event.anchor, node, weight)
            return (node, weight)
        case YAML_MAPPING_START_EVENT:
            try enter(event)
            defer { depth -= 1 }
            var weight = Weight(bytes: 0)
            var pairs: [(key: Node, value: Node)] = []
            var seen: [DuplicateKey: Int] = [:]
            var duplicate: (key: String, mark: Node.Mark)?
            var item = try next()
            while item.type != YAML_MAPPING_END_EVENT {
                let (key, keyWeight) = try load(item)
                let (value, valueWeight) = try load(try next())
                weight.add(keyWeight)
                weight.add(valueWeight)
                if let identity = DuplicateKey(key) {
                    if seen[identity, default: 0] == 1, duplicate == nil || identity.string < duplicate!.key {
                        duplicate = (identity.string, key.mark)
                    }
                    seen[identity, default: 0] += 1
                }
                pairs.append((key, value))
                item = try next()
            }
            if let duplicate {
                throw YAMLSyntaxError(
                    problem: "duplicate key '\(duplicate.key)'; each key may appear once in a mapping",
                    mark: duplicate.mark)
            }
            let node = Node.mapping(.init(pairs: pairs, tag: event.collectionTag ?? .map, mark: event.mark))
            register(event.anchor, node, weight)
            return (node, weight)
        default:
            throw YAMLSyntaxError(problem: "unexpected event \(event.type.rawValue)", mark: event.mark)
        }
    }

    /// A later anchor of the same name shadows an earlier one, as YAML says.
    private func register(_ anchor: String?, _ node: Node, _ weight: Weight) {
        if let anchor { anchors[anchor] = (node, weight) }
    }

    private func enter(_ event: Event) throws(YAMLSyntaxError) {
        depth += 1
        guard depth <= YAMLComposer.maximumDepth else { throw tooDeep(event) }
    }

    private func tooDeep(_ event: Event) -> YAMLSyntaxError {
        YAMLSyntaxError(problem: "nested more than \(YAMLComposer.maximumDepth) levels deep", mark: event.mark)
    }

    /// Adds a scalar, or an alias's whole tree, where it stands; refuses what goes past a limit.
    private func count(_ weight: Weight, at event: Event) throws(YAMLSyntaxError) {
        // a scalar has height 1 and sits `depth` collections deep; an alias's tree as deep again
        guard depth + weight.height - 1 <= YAMLComposer.maximumDepth else { throw tooDeep(event) }
        total.nodes += weight.nodes
        total.bytes += weight.bytes
        guard total.nodes <= YAMLComposer.maximumNodes else {
            throw YAMLSyntaxError(
                problem: "more than \(YAMLComposer.maximumNodes) values once its aliases are expanded",
                mark: event.mark)
        }
        guard total.bytes <= YAMLComposer.maximumBytes else {
            throw YAMLSyntaxError(
                problem: "more than \(YAMLComposer.maximumBytes >> 20) MiB of text once its aliases are expanded",
                mark: event.mark)
        }
    }

    private func next() throws(YAMLSyntaxError) -> Event {
        let event = Event()
        guard yaml_parser_parse(parser, event.event) == 1 else { throw error() }
        return event
    }

    /// libyaml's account of what failed. A reader error (bytes that are not allowed, such as
    /// control characters) carries an offset instead of a mark: it is turned into one.
    private func error() -> YAMLSyntaxError {
        let state = parser.pointee
        let problem = state.problem.map { String(cString: $0) } ?? "cannot parse"
        if state.error == YAML_READER_ERROR {
            var line = 1
            var column = 1
            var previous: UInt8 = 0
            let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
            let start = text.starts(with: bom) ? 3 : 0
            for byte in text.prefix(state.problem_offset).dropFirst(start) {
                if byte == 0x0A && previous == 0x0D {
                    // the second half of a CRLF
                } else if byte == 0x0A || byte == 0x0D {
                    line += 1
                    column = 1
                } else if byte & 0xC0 != 0x80 {
                    column += 1
                }
                previous = byte
            }
            return YAMLSyntaxError(problem: problem, mark: .init(line: line, column: column))
        }
        let context = state.context.map {
            YAMLSyntaxError.Context(
                text: String(cString: $0),
                mark: .init(line: Int(state.context_mark.line) + 1, column: Int(state.context_mark.column) + 1))
        }
        return YAMLSyntaxError(
            problem: problem,
            mark: .init(line: Int(state.problem_mark.line) + 1, column: Int(state.problem_mark.column) + 1),
            context: context)
    }
}

/// A mapping key as duplicates are judged: the same text with the same tag (so `1` and `'1'`
/// are different keys). Keys that are not scalars are not compared.
private struct DuplicateKey: Hashable {
    var string: String
    var tag: String

    init?(_ node: Node) {
        guard case .scalar(let scalar) = node else { return nil }
        string = scalar.string
        tag = scalar.tag.name
    }
}

/// One libyaml event, deleted when it is no longer used.
private final class Event {
    let event = UnsafeMutablePointer<yaml_event_t>.allocate(capacity: 1)

    init() { event.initialize(to: yaml_event_t()) }

    deinit {
        yaml_event_delete(event)
        event.deallocate()
    }

    var type: yaml_event_type_t { event.pointee.type }

    var mark: Node.Mark {
        .init(line: Int(event.pointee.start_mark.line) + 1, column: Int(event.pointee.start_mark.column) + 1)
    }

    var anchor: String? {
        switch type {
        case YAML_ALIAS_EVENT: return Self.string(event.pointee.data.alias.anchor)
        case YAML_SCALAR_EVENT: return Self.string(event.pointee.data.scalar.anchor)
        case YAML_SEQUENCE_START_EVENT: return Self.string(event.pointee.data.sequence_start.anchor)
        case YAML_MAPPING_START_EVENT: return Self.string(event.pointee.data.mapping_start.anchor)
        default: return nil
        }
    }

    /// A sequence's or mapping's tag as written, or `nil` for none.
    var collectionTag: Node.Tag? {
        switch type {
        case YAML_SEQUENCE_START_EVENT:
            let data = event.pointee.data.sequence_start
            return data.implicit != 0 ? nil : Self.string(data.tag).map { Self.specific($0, or: .seq) }
        case YAML_MAPPING_START_EVENT:
            let data = event.pointee.data.mapping_start
            return data.implicit != 0 ? nil : Self.string(data.tag).map { Self.specific($0, or: .map) }
        default: return nil
        }
    }

    var scalar: Node.Scalar {
        let data = event.pointee.data.scalar
        let string = String(decoding: UnsafeBufferPointer(start: data.value, count: data.length), as: UTF8.self)
        let isPlain = data.style == YAML_PLAIN_SCALAR_STYLE || data.style == YAML_ANY_SCALAR_STYLE
        let tag: Node.Tag
        if data.quoted_implicit == 1 {
            tag = .str
        } else if let written = Self.string(data.tag) {
            tag = Self.specific(written, or: .str)
        } else {
            tag = YAMLScalarRules.tag(ofPlain: string)
        }
        return Node.Scalar(string: string, tag: tag, isPlain: isPlain, mark: mark)
    }

    /// The non-specific tag `!` means the kind's default: a string, a sequence, a mapping.
    private static func specific(_ tag: String, or kind: Node.Tag) -> Node.Tag {
        tag == "!" ? kind : Node.Tag(name: tag)
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: UnsafePointer($0)) }
    }
}
