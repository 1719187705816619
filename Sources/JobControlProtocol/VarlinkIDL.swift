import FoundationEssentials

/// A Varlink interface description parsed into its members (the grammar of varlink.org's
/// "Interface Definition"): what the HTTP API's OpenAPI document is generated from, so the
/// two can never disagree.
public struct VarlinkIDL: Sendable, Hashable {
    public indirect enum FieldType: Sendable, Hashable {
        case bool, int, float, string, object
        case named(String)
        case optional(FieldType)
        case array(FieldType)
        /// `[string]T`: an object whose values are T.
        case map(FieldType)
        case structure([Field])
        case enumeration([String])
    }

    public struct Field: Sendable, Hashable {
        public var name: String
        public var type: FieldType
        public var doc: String

        public init(name: String, type: FieldType, doc: String = "") {
            self.name = name
            self.type = type
            self.doc = doc
        }
    }

    public struct Member: Sendable, Hashable {
        public enum Kind: Sendable, Hashable { case type, method, error }
        public var kind: Kind
        public var name: String
        public var doc: String
        /// A type's definition (a structure or an enum); an error's parameters.
        public var type: FieldType?
        public var input: [Field] = []
        public var output: [Field] = []
    }

    public var name: String
    public var doc: String
    public var members: [Member]

    public var methods: [Member] { members.filter { $0.kind == .method } }
    public var types: [Member] { members.filter { $0.kind == .type } }
    public var errors: [Member] { members.filter { $0.kind == .error } }

    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public var line: Int
        public var message: String
        public var description: String { "interface description, line \(line): \(message)" }
    }

    /// Parses `text`; an error names the line.
    public init(parsing text: String) throws(ParseError) {
        var scanner = Scanner(text)
        var doc = scanner.takeDoc()
        try scanner.expect("interface")
        name = try scanner.word()
        self.doc = doc
        members = []
        while true {
            doc = scanner.takeDoc()
            guard let keyword = scanner.peekWord() else { break }
            _ = try scanner.word()
            let memberName = try scanner.word()
            switch keyword {
            case "type":
                members.append(Member(kind: .type, name: memberName, doc: doc, type: try scanner.structOrEnum()))
            case "error":
                members.append(Member(kind: .error, name: memberName, doc: doc, type: try scanner.structOrEnum()))
            case "method":
                guard case .structure(let input) = try scanner.structOrEnum() else {
                    throw scanner.error("a method's parameters must be fields")
                }
                try scanner.expect("->")
                guard case .structure(let output) = try scanner.structOrEnum() else {
                    throw scanner.error("a method's reply must be fields")
                }
                members.append(Member(kind: .method, name: memberName, doc: doc, input: input, output: output))
            default:
                throw scanner.error("expected type, method or error, found '\(keyword)'")
            }
        }
    }

    /// Reads the description's tokens; `#` comments are kept as the doc of what follows.
    struct Scanner {
        var characters: [Character]
        var index = 0
        var line = 1
        var comments: [String] = []

        init(_ text: String) { characters = Array(text) }

        func error(_ message: String) -> ParseError { ParseError(line: line, message: message) }

        /// Skips blanks, collecting comments.
        mutating func skip() {
            while index < characters.count {
                let character = characters[index]
                if character == "\n" {
                    line += 1
                    index += 1
                } else if character.isWhitespace {
                    index += 1
                } else if character == "#" {
                    var end = index
                    while end < characters.count, characters[end] != "\n" { end += 1 }
                    var text = characters[(index + 1)..<end]
                    while text.first?.isWhitespace == true { text = text.dropFirst() }
                    while text.last?.isWhitespace == true { text = text.dropLast() }
                    comments.append(String(text))
                    index = end
                } else {
                    return
                }
            }
        }

        /// The comments since the last call, as one paragraph.
        mutating func takeDoc() -> String {
            skip()
            defer { comments = [] }
            return comments.joined(separator: " ")
        }

        mutating func peekWord() -> String? {
            skip()
            let saved = (index, line)
            defer { (index, line) = saved }
            return try? word()
        }

        mutating func word() throws(ParseError) -> String {
            skip()
            var end = index
            while end < characters.count,
                characters[end].isLetter || characters[end].isNumber
                    || characters[end] == "_" || characters[end] == "."
            {
                end += 1
            }
            guard end > index else {
                throw error("expected a name, found '\(index < characters.count ? String(characters[index]) : "end")'")
            }
            defer { index = end }
            return String(characters[index..<end])
        }

        mutating func consume(_ token: String) -> Bool {
            skip()
            let expected = Array(token)
            guard index + expected.count <= characters.count,
                Array(characters[index..<(index + expected.count)]) == expected
            else { return false }
            index += expected.count
            return true
        }

        mutating func expect(_ token: String) throws(ParseError) {
            guard consume(token) else { throw error("expected '\(token)'") }
        }

        /// `( name: type, … )` or `( a, b, c )`.
        mutating func structOrEnum() throws(ParseError) -> FieldType {
            try expect("(")
            _ = takeDoc()
            if consume(")") { return .structure([]) }
            var fields: [Field] = []
            var values: [String] = []
            while true {
                let doc = takeDoc()
                let name = try word()
                if consume(":") {
                    fields.append(Field(name: name, type: try fieldType(), doc: doc))
                } else {
                    values.append(name)
                }
                if consume(",") { continue }
                try expect(")")
                break
            }
            if !fields.isEmpty && !values.isEmpty { throw error("a list mixes fields and enum values") }
            return values.isEmpty ? .structure(fields) : .enumeration(values)
        }

        mutating func fieldType() throws(ParseError) -> FieldType {
            if consume("?") { return .optional(try fieldType()) }
            if consume("[]") { return .array(try fieldType()) }
            if consume("[string]") { return .map(try fieldType()) }
            skip()
            if index < characters.count, characters[index] == "(" { return try structOrEnum() }
            switch try word() {
            case "bool": return .bool
            case "int": return .int
            case "float": return .float
            case "string": return .string
            case "object": return .object
            case let name: return .named(name)
            }
        }
    }
}
