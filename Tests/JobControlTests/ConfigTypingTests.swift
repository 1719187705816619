import Foundation
import Testing

@testable import JobControl

/// What a value in a job file becomes, after a hostile review found text silently turned into
/// numbers (`CPUS: 0-3` became -3, `08:30` became 510.0), tags ignored or silently dropped,
/// merge keys unsupported, and unreadable files reported without a place. PyYAML (YAML 1.1) is
/// the reference for what is a number.
@Suite struct ConfigTypingTests {
    func job(_ body: String) throws -> JobConfig {
        try #require(
            try ConfigLoader.parse(yaml: "jobs:\n  - id: a\n    command: 'true'\n" + body, file: "t.yaml").job("a"))
    }

    @Test func onlyWholeNumbersAreNumbers() throws {
        let found = try job(
            """
                args: [0-5, 0x-1, 0+7, 08:30, 0:30, 1:60, _1, nan, inf, Infinity, 0x1p3, 0X1F, -0, +0, 12:30, 0o17, 017, 0x1F, 1_000, 1.5, '12']
                environment: {CPUS: 0-3, AT: 09:30}

            """)
        #expect(
            found.args.dropFirst() == [
                .string("0-5"), .string("0x-1"), .string("0+7"), .string("08:30"), .string("0:30"), .string("1:60"),
                .string("_1"), .string("nan"), .string("inf"), .string("Infinity"), .string("0x1p3"),
                .string("0X1F"), .int(0), .int(0), .int(750), .int(15), .int(15), .int(31), .int(1000),
                .double(1.5), .string("12"),
            ])
        #expect(found.environment == ["CPUS": .string("0-3"), "AT": .string("09:30")])
        #expect(try job("    retries: +0\n").retry == (try job("    retries: 0\n").retry))
    }

    @Test func aWrittenTagDecidesTheType() throws {
        let found = try job("    args: [!!str 10, !!str null, ! 10, !!int '12', !!float 1, !!str, !!bool 'yes']\n")
        #expect(
            found.args.dropFirst() == [
                .string("10"), .string("null"), .string("10"), .int(12), .double(1), .string(""), .bool(true),
            ])
        #expect(try job("    title: !!str\n").title == "")
    }

    /// Past Int64 an integer keeps its text exactly (it became an inexact float); infinity and
    /// NaN have no JSON form and are refused.
    @Test func bigIntegersStayExactAndInfinityIsRefused() throws {
        #expect(try job("    args: [9223372036854775808]\n").args.last == .string("9223372036854775808"))
        for value in [".inf", "-.inf", ".nan"] {
            let errors = configErrors(
                "jobs:\n  - id: a\n    command: 'true'\n    args: [\(value)]\n", file: "t.yaml")
            #expect(errors.count == 1)
            #expect(errors.first?.hasPrefix("t.yaml:4:12: '\(value)' in") == true, "\(errors)")
            #expect(errors.first?.contains("not a finite number") == true, "\(errors)")
        }
    }

    /// Each in a job of its own: a list or mapping with a bad value reports the first.
    @Test func unknownTagsAndTagsOnCollectionsAreErrors() {
        let cases: [(value: String, error: String)] = [
            ("environment: {T: !!secret tok}", "4:22: unknown tag '!!secret'"),
            ("args: [!retval [b]]", "4:12: the tag '!retval' cannot be put on a list"),
            ("args: [!whatever {x: y}]", "4:12: the tag '!whatever' cannot be put on a mapping"),
            ("args: [!!int many]", "4:12: 'many' in"),
            ("args: [!!bool maybe]", "4:12: 'maybe' in"),
            ("kwargs: !param {k: v}", "4:13: the tag '!param' cannot be put on a mapping"),
            ("args: [!!binary aGk=]", "4:12: unknown tag '!!binary'"),
        ]
        for (value, expected) in cases {
            let errors = configErrors("jobs:\n  - id: a\n    command: 'true'\n    \(value)\n", file: "t.yaml")
            #expect(errors.count == 1 && errors[0].hasPrefix("t.yaml:" + expected), "\(value): \(errors)")
        }
        #expect(
            configErrors("jobs:\n  - id: a\n    command: 'true'\n    environment: {T: !!secret tok}\n").first?
                .hasSuffix("(did you mean '!secret'?)") == true)
    }

    /// YAML 1.1 merge keys: the mapping's own keys win, then earlier merged mappings over later.
    @Test func mergeKeysMergeMappings() throws {
        let config = try ConfigLoader.parse(
            yaml: """
                jobs:
                  - &base {id: base, command: 'true', timeout: 10s, kwargs: {a: 1, b: 2}}
                  - <<: *base
                    id: derived
                    kwargs: {<<: [{b: 3, c: 4}, {c: 5, d: 6}], a: 0}
                """, file: "t.yaml")
        let derived = try #require(config.job("derived"))
        #expect(derived.timeout == 10)
        #expect(derived.kwargs == ["a": .int(0), "b": .int(3), "c": .int(4), "d": .int(6)])
        let errors = configErrors("jobs:\n  - {id: a, command: 'true', kwargs: {<<: 5}}\n", file: "t.yaml")
        #expect(errors == ["t.yaml:2:43: '<<' merges a mapping or a list of mappings, found an integer"])
    }

    /// An unclosed quote or bracket is reported where it opens, not at the end of the file.
    @Test func anUnclosedQuoteIsShownWhereItOpens() {
        let errors = configErrors(
            "jobs:\n  - id: a\n    title: \"unclosed\n    command: [echo]\n  - id: b\n    command: 'true'\n",
            file: "t.yaml")
        #expect(errors.count == 1)
        #expect(
            errors.first?.hasPrefix(
                "t.yaml:3:12: YAML syntax error: found unexpected end of stream at line 7, column 1, while scanning a quoted scalar that starts here"
            ) == true, "\(errors)")
    }

    @Test func filesThatCannotBeReadSayWhy() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jc-typing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func load(_ bytes: [UInt8]) -> String {
            let file = directory.appendingPathComponent("jobcontrol.yaml").path
            _ = FileManager.default.createFile(atPath: file, contents: Data(bytes))
            do {
                _ = try ConfigLoader.load(file: file)
                return "loaded"
            } catch {
                return error.description.replacingOccurrences(of: directory.path + "/", with: "")
            }
        }
        #expect(
            load(Array("jobs: []\n# caf".utf8) + [0xE9] + Array("\n".utf8))
                == "jobcontrol.yaml:2:6: cannot read configuration file: it is not UTF-8 text: byte 0xE9 here; save it as UTF-8"
        )
        #expect(
            load([0xFF, 0xFE, 0x6A, 0x00])
                == "jobcontrol.yaml:1:1: cannot read configuration file: it is UTF-16 text; save it as UTF-8")
        // An include pattern that matches a FIFO, the main file itself, and one file twice.
        let fifo = directory.appendingPathComponent("pipe.yaml").path
        #expect(mkfifo(fifo, 0o600) == 0)
        try "jobs: [{id: a, command: 'true'}]\n".write(
            to: directory.appendingPathComponent("a.yaml"), atomically: true, encoding: .utf8)
        let main = directory.appendingPathComponent("jobcontrol.yaml").path
        try "include: ['*.yaml', a.yaml]\njobs: []\n".write(toFile: main, atomically: true, encoding: .utf8)
        do {
            _ = try ConfigLoader.load(file: main)
            Issue.record("the FIFO was read")
        } catch {
            #expect(
                error.diagnostics.map(\.description)
                    == ["\(main):1:11: \(fifo): cannot read configuration file: it is not a regular file"])
        }
        try FileManager.default.removeItem(atPath: fifo)
        let config = try ConfigLoader.load(file: main)
        #expect(config.jobs.map(\.id) == ["a"])
    }
}
