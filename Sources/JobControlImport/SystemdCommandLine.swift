import FoundationEssentials

/// systemd's quoting and expansion rules, as systemd.service(5) and systemd.syntax(7) give them.
enum SystemdSyntax {
    /// Splits a value into words: whitespace separates, "…" and '…' quote, and backslash escapes
    /// as in C (`\n`, `\t`, `\\`, `\"`, `\'`, `\xNN`; a backslash before anything else stays).
    static func words(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var characters = Array(text)
        var index = 0
        func escape() {
            index += 1
            guard index < characters.count else {
                current.append("\\")
                return
            }
            switch characters[index] {
            case "n": current.append("\n")
            case "t": current.append("\t")
            case "r": current.append("\r")
            case "s": current.append(" ")
            case "a": current.append("\u{07}")
            case "b": current.append("\u{08}")
            case "f": current.append("\u{0C}")
            case "v": current.append("\u{0B}")
            case "0"..."7" where index + 2 < characters.count:
                if let value = UInt8(String(characters[index...index + 2]), radix: 8) {
                    current.unicodeScalars.append(Unicode.Scalar(value))
                    index += 2
                } else {
                    current.append("\\")
                    current.append(characters[index])
                }
            case "u" where index + 4 < characters.count, "U" where index + 8 < characters.count:
                let digits = characters[index] == "u" ? 4 : 8
                if let value = UInt32(String(characters[index + 1...index + digits]), radix: 16),
                    let scalar = Unicode.Scalar(value)
                {
                    current.unicodeScalars.append(scalar)
                    index += digits
                } else {
                    current.append("\\")
                    current.append(characters[index])
                }
            case "\\": current.append("\\")
            case "\"": current.append("\"")
            case "'": current.append("'")
            case " ": current.append(" ")
            case "x" where index + 2 < characters.count:
                if let value = UInt8(String(characters[index + 1...index + 2]), radix: 16) {
                    current.unicodeScalars.append(Unicode.Scalar(value))
                    index += 2
                } else {
                    current.append("\\x")
                }
            default:
                current.append("\\")
                current.append(characters[index])
            }
        }
        while index < characters.count {
            let character = characters[index]
            if let open = quote {
                if character == open {
                    quote = nil
                } else if character == "\\" {
                    escape()
                } else {
                    current.append(character)
                }
            } else if character == " " || character == "\t" || character == "\n" {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else if character == "\"" || character == "'" {
                quote = character
                inWord = true
            } else if character == "\\" {
                inWord = true
                escape()
            } else {
                inWord = true
                current.append(character)
            }
            index += 1
        }
        if inWord { words.append(current) }
        characters.removeAll()
        return words
    }

    /// Replaces the specifiers an import can know (`%n`, `%N`, `%p`, `%i`, `%I`, `%j`, `%%`);
    /// returns the others found (left as written).
    static func specifiers(_ text: String, unit: String) -> (String, unknown: [String]) {
        let base = unit.split(separator: ".").dropLast().joined(separator: ".")
        let prefix = base.split(separator: "@", maxSplits: 1).first.map(String.init) ?? base
        // `backup@.service` (a template) has the empty instance, not `backup`.
        let instance = base.firstIndex(of: "@").map { String(base[base.index(after: $0)...]) } ?? ""
        var out = ""
        var unknown: [String] = []
        var iterator = text.makeIterator()
        while let character = iterator.next() {
            guard character == "%" else {
                out.append(character)
                continue
            }
            guard let next = iterator.next() else {
                out.append("%")
                break
            }
            switch next {
            case "%": out.append("%")
            case "n": out += unit
            case "N": out += base
            case "p": out += prefix
            case "j": out += String(prefix.split(separator: "-").last ?? Substring(prefix))
            case "i": out += instance
            case "I": out += unescaped(instance)
            default:
                out += "%\(next)"
                if !unknown.contains("%\(next)") { unknown.append("%\(next)") }
            }
        }
        return (out, unknown)
    }

    /// A unit name's escaping undone (systemd-escape): `-` is `/`, `\xNN` a byte.
    static func unescaped(_ text: String) -> String {
        var bytes: [UInt8] = []
        var rest = Substring(text)
        while let character = rest.first {
            if rest.hasPrefix("\\x"), rest.count >= 4, let value = UInt8(String(rest.dropFirst(2).prefix(2)), radix: 16)
            {
                bytes.append(value)
                rest = rest.dropFirst(4)
            } else {
                bytes += character == "-" ? Array("/".utf8) : Array(String(character).utf8)
                rest = rest.dropFirst()
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `'word'` for sh, with `'` written as `'\''`; a plain word stays bare.
    static func shellQuote(_ word: String) -> String {
        let plain =
            !word.isEmpty && word.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "/._-+=:,@%".contains($0)) }
        return plain ? word : "'" + word.replacing("'", with: "'\\''") + "'"
    }

    /// One word of an ExecStart= line as sh words: `$NAME` alone splits as systemd does (unquoted,
    /// the script runs with `set -f`), `${NAME}` is substituted within the word, the rest is
    /// literal; `$$` is `$`. `expand` false (the `:` prefix): all literal.
    static func shellWord(_ word: String, expand: Bool) -> (text: String, usesVariables: Bool) {
        guard expand, word.contains("$") else { return (shellQuote(word.replacing("$$", with: "$")), false) }
        if word.count > 1, word.hasPrefix("$"), !word.hasPrefix("${"), isName(word.dropFirst()) {
            return ("$" + word.dropFirst(), true)
        }
        var parts = ""
        var literal = ""
        var used = false
        var rest = Substring(word)
        while !rest.isEmpty {
            if rest.hasPrefix("$$") {
                literal.append("$")
                rest = rest.dropFirst(2)
            } else if rest.hasPrefix("${"), let close = rest.firstIndex(of: "}"),
                isName(rest[rest.index(rest.startIndex, offsetBy: 2)..<close])
            {
                if !literal.isEmpty { parts += shellQuote(literal) }
                literal = ""
                parts += "\"" + rest[...close] + "\""
                used = true
                rest = rest[rest.index(after: close)...]
            } else {
                literal.append(rest.removeFirst())
            }
        }
        if !literal.isEmpty || parts.isEmpty { parts += shellQuote(literal) }
        return (parts, used)
    }

    /// A variable name systemd expands: a letter or `_`, then letters, digits and `_` (`$1` is
    /// kept as written).
    static func isName(_ text: Substring) -> Bool {
        guard let first = text.first, first == "_" || (first.isASCII && first.isLetter) else { return false }
        return text.allSatisfy(isNameCharacter)
    }

    static func isNameCharacter(_ character: Character) -> Bool {
        character == "_" || (character.isASCII && (character.isLetter || character.isNumber))
    }
}

/// One `ExecStart=` (or `ExecStartPre=`/`ExecStartPost=`) line: its prefixes and its words.
struct ExecLine {
    var ignoreFailure = false
    var noExpansion = false
    var argv0: Bool = false
    /// `+`, `!` or `!!`: run with privileges the service's sandbox would not have.
    var privileged: String?
    var words: [String]
    var location: String

    init(_ setting: UnitFile.Setting, unit: String, unknownSpecifiers: inout [String]) {
        location = setting.location
        var text = Substring(setting.value)
        while let first = text.first, "-@:+!".contains(first) {
            switch first {
            case "-": ignoreFailure = true
            case "@": argv0 = true
            case ":": noExpansion = true
            case "+": privileged = "+"
            default: privileged = text.hasPrefix("!!") ? "!!" : "!"
            }
            text = text.dropFirst(text.hasPrefix("!!") ? 2 : 1)
        }
        // Split first, then the specifiers of each word, as systemd does (a value with spaces
        // stays one word).
        words = SystemdSyntax.words(String(text)).map { word in
            let (expanded, unknown) = SystemdSyntax.specifiers(word, unit: unit)
            unknownSpecifiers += unknown.filter { !unknownSpecifiers.contains($0) }
            return expanded
        }
        if argv0, words.count >= 2 { words.remove(at: 1) }  // the second word was argv[0]
    }

    /// As one line of an sh script.
    var shellLine: (text: String, usesVariables: Bool) {
        var used = false
        let text = words.map { word -> String in
            let (quoted, uses) = SystemdSyntax.shellWord(word, expand: !noExpansion)
            used = used || uses
            return quoted
        }.joined(separator: " ")
        return (ignoreFailure ? text + " || true" : text, used)
    }

    /// True when the words can run as an argv as they are (no variable systemd would expand).
    var isPlainArgv: Bool { !ignoreFailure && (noExpansion || !words.contains { $0.contains("$") }) }
}
