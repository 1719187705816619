import Foundation
import Testing
import Yams

@testable import JobControl

/// The configuration loader reads YAML through libyaml with a tree and scalar typing of its own
/// (`YAMLComposer`, `Node`). Until then it used Yams, and configurations must mean the same as
/// before: Yams is kept here as the oracle. Every document of a corpus (the sample configuration,
/// every YAML block of the documentation, and scalars of every kind, plain, quoted and tagged) is
/// composed by both, and the trees must agree on shape, text, tag, place and typed values (ours
/// follow the tag, as YAML says: Yams' accessors read any text a number parser accepts).
@Suite struct ConfigYAMLOracleTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Scalars of every kind the rules tell apart, and near misses of each.
    static let scalars: [String] = [
        "", "~", "null", "Null", "NULL", "nULL", "none",
        "yes", "Yes", "YES", "yEs", "no", "No", "NO", "true", "True", "TRUE", "tRUE", "false", "False", "FALSE",
        "on", "On", "ON", "off", "Off", "OFF", "y", "n",
        "0", "00", "007", "08", "0o17", "0o8", "+0o17", "-017", "0x1F", "0x1f", "-0x1F", "+0x_1F", "0xG", "0b101",
        "-0b101", "0b2", "1", "-1", "+1", "12", "1_000", "1__0", "_1", "1_", "123456789012345678901234567890",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808",
        "1:30", "-1:30", "+1:30", "1:30:00", "190:20:30", "1:60", "1:5", "1:05", "1::5", "1:", "0:30", "12:34:56.5",
        "1.5", "-1.5", "+1.5", ".5", "-.5", "1.", "1e3", "1E3", "1e+3", "1.0e-3", ".5e+3", ".5e3", "1_0.5_0",
        ".inf", ".Inf", ".INF", "-.inf", "+.inf", ".nan", ".NaN", ".NAN", "-.nan", "inf", "nan", "infinity", "NaN",
        "0x1p3", "1,5", "1.2.3", "--1", "+-1", "-1-",
        "<<", "=", "==",
        "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5", "2001-12-14T21:59:43Z",
        "2001-12-15 2:59:43.10", "2001-1-2", "2001-1-2T3:04:05", "20011-12-14",
        "hello", "hello world", "15m", "2 hours", "daily", "0 3 * * *", "/bin/true", "a:b", "a :b",
    ]

    static func corpus() throws -> [(name: String, text: String)] {
        var documents: [(String, String)] = []
        for path in ["etc/jobcontrol/jobcontrol.yaml", "etc/jobcontrol/jobs.d/examples.yaml"] {
            documents.append((path, try String(contentsOf: repository.appendingPathComponent(path), encoding: .utf8)))
        }
        let docs = repository.appendingPathComponent("docs")
        for file in try FileManager.default.contentsOfDirectory(atPath: docs.path).sorted() where file.hasSuffix(".md")
        {
            let text = try String(contentsOf: docs.appendingPathComponent(file), encoding: .utf8)
            for (index, block) in text.components(separatedBy: "```yaml\n").dropFirst().enumerated() {
                documents.append(("docs/\(file) block \(index + 1)", block.components(separatedBy: "```")[0]))
            }
        }
        var plain = "", single = "", double = "", tagged = "", list = "list:\n"
        for (index, scalar) in scalars.enumerated() {
            plain += "p\(index): \(scalar)\n"
            single += "s\(index): '\(scalar)'\n"
            double += "d\(index): \"\(scalar)\"\n"
            tagged += "i\(index): !!int \(scalar)\nb\(index): !!bool \(scalar)\nr\(index): !retval \(scalar)\n"
            tagged += "x\(index): !!str \(scalar)\nn\(index): ! \(scalar)\n"
            list += "  - \(scalar)\n"
        }
        documents += [
            ("plain scalars", plain), ("single-quoted scalars", single), ("double-quoted scalars", double),
            ("tagged scalars", tagged), ("a list of scalars", list),
            ("block scalars", "a: |\n  line 1\n  line 2\nb: >-\n  folded\n  text\nc: |+\n  kept\n\n"),
            ("anchors", "base: &b {x: 1, y: [a, b]}\nuse: *b\nlist: [&i 5, *i]\nagain: &b 2\nlatest: *b\n"),
            ("flow and nesting", "{a: [1, {b: c}], 'd': \"e\", ? complex : key}\n"),
            ("tagged collections", "m: !!map {a: 1}\ns: !!seq [1]\nc: !custom {a: 1}\nn: ! [1]\n"),
            ("non-scalar keys", "? [a, b]\n: 1\n? {c: d}\n: 2\n"),
            ("one scalar", "just text\n"), ("empty", ""), ("comments only", "# nothing here\n"),
            ("unicode", "name: café ☕\n'clé': \"\\u00e9t\\u00e9\"\nemoji: 🎉 and more\n"),
            ("explicit document", "---\na: 1\n...\n"),
        ]
        return documents
    }

    @Test func theLoaderReadsEveryDocumentAsYamsDid() throws {
        let documents = try Self.corpus()
        #expect(documents.count > 20)
        for (name, text) in documents {
            let theirs: Yams.Node?
            do {
                theirs = try Yams.compose(yaml: text)
            } catch {
                // an excerpt that is not a whole document: ours must refuse it the same way
                #expect(throws: YAMLSyntaxError.self, "\(name): Yams refused it (\(error))") {
                    try YAMLComposer.compose(text)
                }
                continue
            }
            let ours = try YAMLComposer.compose(text)
            switch (ours, theirs) {
            case (nil, nil): continue
            case (let ours?, let theirs?): Self.compare(ours, theirs, at: name)
            default: Issue.record("\(name): ours \(ours == nil ? "empty" : "a node"), Yams' the other")
            }
        }
    }

    @Test func brokenDocumentsFailAtTheSamePlace() {
        let broken = [
            "jobs:\n  - id: a\n    command: [x\n", "jobs:\n  - id: a\n   command: x\n", "a: b: c\n", "a: 'open\n",
            "- a\nb: c\n", "a: *missing\n", "a: 1\n---\nb: 2\n", "{a: 1\n", "a:\n\t- b\n", "key: [1, 2]]\n",
            "a: !<tag:yaml.org,2002:str x\n", "%YAML 9.9\n---\na: 1\n", "a: \"\\q\"\n", "? a\n? a\n",
        ]
        for text in broken {
            var ours: YAMLSyntaxError?
            do { _ = try YAMLComposer.compose(text) } catch { ours = error }
            var theirs: YamlError?
            do { _ = try Yams.compose(yaml: text) } catch { theirs = error as? YamlError }
            guard let ours, let theirs else {
                #expect(
                    ours == nil && theirs == nil,
                    "\(text.debugDescription): ours \(ours.debugDescription), Yams' \(theirs.debugDescription)")
                continue
            }
            switch theirs {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
                .composer(_, let problem, let mark, _):
                #expect(ours.problem == problem, "\(text.debugDescription)")
                #expect(
                    ours.mark == JobControl.Node.Mark(line: mark.line, column: mark.column), "\(text.debugDescription)")
            case .duplicatedKeysInMapping(let duplicates, _):
                #expect(ours.problem.hasPrefix("duplicate key '\(duplicates.first ?? "")'"), "\(text.debugDescription)")
            default:
                Issue.record("\(text.debugDescription): Yams failed with \(theirs)")
            }
        }
    }

    @Test func aDuplicateKeyIsShownWhereItRepeats() throws {
        #expect(throws: YAMLSyntaxError.self) { try YAMLComposer.compose("a: 1\nb:\n  c: 2\n  c: 3\n") }
        do {
            _ = try YAMLComposer.compose("a: 1\nb:\n  c: 2\n  d: 4\n  c: 3\n")
        } catch {
            #expect(error.problem == "duplicate key 'c'; each key may appear once in a mapping")
            #expect(error.mark == JobControl.Node.Mark(line: 5, column: 3))
        }
        // the same text with another tag is another key, as in Yams
        #expect(try YAMLComposer.compose("1: a\n'1': b\n") != nil)
    }

    /// Yams trapped on a base-60 integer past Int's range, so a typo in one value stopped the
    /// daemon; it is no number now, and the loader says it is out of range.
    @Test func aBaseSixtyOverflowIsNotANumber() throws {
        let node = try #require(try YAMLComposer.compose("workers: 1:1:1:1:1:1:1:1:1:1:1:1:1\n"))
        guard case .mapping(let mapping) = node, let value = mapping.pairs.first?.value else {
            Issue.record("not a mapping")
            return
        }
        #expect(value.int == nil)
        #expect(value.float == nil)
        #expect(
            configErrors("workers: 1:1:1:1:1:1:1:1:1:1:1:1:1\n", file: "t.yaml") == [
                "t.yaml:1:10: 'workers' is out of range: 1:1:1:1:1:1:1:1:1:1:1:1:1"
            ])
    }

    /// Limits against files that would stop the daemon: 5,000 levels of nesting overflowed the
    /// stack (in Yams too), and aliases of aliases make a tree too large to walk.
    ///
    /// This test process links Yams, whose copy of libyaml has a nesting limit of its own (1,000)
    /// and answers first; the daemon links the system's libyaml, which has none, and so meets
    /// ours: `HostileConfigTests` checks that with the real binary.
    @Test func deepNestingAndAliasBombsAreErrorsNotCrashes() throws {
        let nested = "x: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "\n"
        #expect(throws: YAMLSyntaxError.self) { try YAMLComposer.compose(nested) }
        let hundredAndOne = "x: " + String(repeating: "[", count: 101) + String(repeating: "]", count: 101) + "\n"
        do {
            _ = try YAMLComposer.compose(hundredAndOne)
            Issue.record("101 levels were accepted")
        } catch {
            #expect(error.problem == "nested more than 100 levels deep")
            #expect(error.mark == JobControl.Node.Mark(line: 1, column: 103))
        }
        let fine = "x: " + String(repeating: "[", count: 99) + String(repeating: "]", count: 99) + "\n"
        #expect(try YAMLComposer.compose(fine) != nil)

        var bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 {
            bomb +=
                "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ", ") + "]\n"
        }
        // depth made of aliases: each line nests 11 levels, the chain 110
        var chain = "a0: &a0 " + String(repeating: "[", count: 10) + "x" + String(repeating: "]", count: 10) + "\n"
        for level in 1...10 {
            chain +=
                "a\(level): &a\(level) " + String(repeating: "[", count: 10) + "*a\(level - 1)"
                + String(repeating: "]", count: 10) + "\n"
        }
        do {
            _ = try YAMLComposer.compose(chain)
            Issue.record("an alias chain 110 levels deep was accepted")
        } catch {
            #expect(error.problem == "nested more than 100 levels deep")
        }
        // bytes made of aliases: 64 KiB, a thousand and more times
        let big =
            "big: &big \"" + String(repeating: "x", count: 65536) + "\"\nuse: ["
            + Array(repeating: "*big", count: 1100).joined(separator: ", ") + "]\n"
        do {
            _ = try YAMLComposer.compose(big)
            Issue.record("70 MB of aliased text was accepted")
        } catch {
            #expect(error.problem == "more than 64 MiB of text once its aliases are expanded")
        }
        // a base-60 integer that adds up to Int.min, then is negated
        let minimum = try #require(try YAMLComposer.compose("workers: --1:-9223372036854775748\n"))
        guard case .mapping(let mapping) = minimum else { return }
        #expect(mapping.pairs.first?.value.int == nil)

        let started = ContinuousClock.now
        #expect(throws: YAMLSyntaxError.self) { try YAMLComposer.compose(bomb) }
        #expect(ContinuousClock.now - started < .seconds(5))

        // through the loader: a diagnostic with the place, and no crash
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jc-yaml-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("jobcontrol.yaml")
        try ("jobs: []\n" + hundredAndOne).write(to: file, atomically: true, encoding: .utf8)
        let error = #expect(throws: ConfigError.self) { try ConfigLoader.load(file: file.path) }
        #expect(error?.description.contains(":2:103: YAML syntax error: nested more than 100 levels deep") == true)
    }

    static func compare(_ ours: JobControl.Node, _ theirs: Yams.Node, at path: String) {
        let place = "\(path) at \(ours.mark.line):\(ours.mark.column)"
        #expect(ours.mark.line == theirs.mark?.line && ours.mark.column == theirs.mark?.column, "\(place): mark")
        #expect(ours.tag.description == theirs.tag.description, "\(place): tag")
        switch (ours, theirs) {
        case (.scalar(let a), .scalar(let b)):
            #expect(a.string == b.string, "\(place): text")
            // Typed values follow the tag (a string that Yams' accessors would also read as a
            // number, such as 0-3, stays a string); where the tags agree, so must the values.
            func their(_ tag: String) -> Bool { theirs.tag.description == "tag:yaml.org,2002:" + tag }
            #expect(
                (ours.null != nil) == (their("null") && theirs.null != nil),
                "\(place): null of \(a.string.debugDescription)")
            #expect(ours.bool == (their("bool") ? theirs.bool : nil), "\(place): bool of \(a.string.debugDescription)")
            #expect(ours.int == (their("int") ? theirs.int : nil), "\(place): int of \(a.string.debugDescription)")
            let (x, y) = (ours.float, their("float") ? theirs.float : nil)
            #expect(x == y || (x?.isNaN == true && y?.isNaN == true), "\(place): float of \(a.string.debugDescription)")
        case (.mapping(let a), .mapping(let b)):
            let theirPairs = Array(b)
            #expect(a.pairs.count == theirPairs.count, "\(place): size")
            for (mine, other) in zip(a.pairs, theirPairs) {
                compare(mine.key, other.key, at: path)
                compare(mine.value, other.value, at: path)
            }
        case (.sequence(let a), .sequence(let b)):
            #expect(a.count == b.count, "\(place): size")
            for (mine, other) in zip(a, b) { compare(mine, other, at: path) }
        default:
            Issue.record("\(place): ours \(ours), Yams' \(theirs)")
        }
    }
}
