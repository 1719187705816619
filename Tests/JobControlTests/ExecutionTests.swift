import Foundation
import Logging
import Synchronization
import Testing

@testable import JobControl

@Suite struct LineSplitterTests {
    func texts(_ lines: [LineSplitter.Line]) -> [String] { lines.map(\.text) }

    @Test func splitsOnNewlinesAndDropsCarriageReturns() {
        var splitter = LineSplitter()
        #expect(texts(splitter.feed(Array("a\nb\r\nc".utf8))) == ["a", "b"])
        #expect(texts(splitter.feed(Array("d\n".utf8))) == ["cd"])
        #expect(splitter.finish().isEmpty)
        _ = splitter.feed(Array("tail".utf8))
        #expect(texts(splitter.finish()) == ["tail"])
    }

    @Test func cutsOverlongLinesIntoPartialPiecesAndReplacesInvalidUTF8() {
        var splitter = LineSplitter(maxLineBytes: 4)
        let lines = splitter.feed(Array("abcdefghi\n".utf8))
        #expect(texts(lines) == ["abcd", "efgh", "i"])
        #expect(lines.map(\.partial) == [true, true, false])
        #expect(lines.map(\.bytes).reduce(0, +) == 10)
        #expect(texts(splitter.feed(Array("wxyz\n".utf8))) == ["wxyz"])
        #expect(texts(splitter.feed([0xFF, 0x41, 0x0A])) == ["\u{FFFD}A"])
    }

    /// Bytes that are not UTF-8 become U+FFFD, three bytes each: a line of them is cut again so
    /// that no record is longer than the limit (they were up to three times it), and the pieces
    /// still join to the line.
    @Test func replacedBytesDoNotMakeARecordLongerThanTheLimit() {
        var splitter = LineSplitter(maxLineBytes: 8)
        var lines = splitter.feed([UInt8](repeating: 0xFF, count: 20) + [0x0A])
        lines += splitter.feed([UInt8](repeating: 0xFE, count: 5))
        lines += splitter.finish()
        #expect(lines.allSatisfy { $0.text.utf8.count <= 8 }, "\(lines.map(\.text.utf8.count))")
        var joined = ""
        for line in lines { joined += line.text + (line.partial ? "" : "\n") }
        #expect(
            joined == String(repeating: "\u{FFFD}", count: 20) + "\n" + String(repeating: "\u{FFFD}", count: 5) + "\n")
        #expect(lines.map(\.bytes).reduce(0, +) == 26)
    }

    /// A piece never ends inside a character: "aé€" cut at 4 bytes keeps "€" whole.
    @Test func cutsAtCharacterBoundaries() {
        var splitter = LineSplitter(maxLineBytes: 4)
        let lines = splitter.feed(Array("aé€€\n".utf8))
        #expect(texts(lines) == ["aé", "€", "€"])
        #expect(!lines.contains { $0.text.contains("\u{FFFD}") })
    }

    /// Fed in chunks of any size, the pieces joined give back the input.
    @Test func piecesJoinToTheInput() {
        let input = String(repeating: "0123456789ü", count: 2000) + "\nshort\n"
        for chunk in [1, 7, 4096, 100_000] {
            var splitter = LineSplitter(maxLineBytes: 1000)
            var lines: [LineSplitter.Line] = []
            let bytes = Array(input.utf8)
            var offset = 0
            while offset < bytes.count {
                lines += splitter.feed(bytes[offset..<min(bytes.count, offset + chunk)])
                offset += chunk
            }
            #expect(lines.allSatisfy { $0.text.utf8.count <= 1000 })
            var joined = ""
            for line in lines { joined += line.text + (line.partial ? "" : "\n") }
            #expect(joined == input)
        }
    }
}

@Suite struct WorkerPoolTests {
    /// The pool fills up to its limit (three at once, measured while they are held) and never
    /// beyond it, however many wait.
    @Test func runsExactlyUpToTheLimit() async throws {
        let pool = WorkerPool(limit: 3)
        let state = Mutex((running: 0, peak: 0, open: false))
        let (done, continuation) = AsyncStream<Void>.makeStream()
        for _ in 0..<20 {
            pool.submit {
                state.withLock {
                    $0.running += 1
                    $0.peak = max($0.peak, $0.running)
                }
                // Held until the test has seen the pool full.
                while !state.withLock({ $0.open }) { try? await Task.sleep(for: .milliseconds(1)) }
                state.withLock { $0.running -= 1 }
                continuation.yield()
            }
        }
        let deadline = ContinuousClock.now + .seconds(20)
        while state.withLock({ $0.running }) < 3, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(state.withLock { $0.running } == 3, "three builds run together")
        state.withLock { $0.open = true }
        var finished = 0
        for await _ in done {
            finished += 1
            if finished == 20 { break }
        }
        #expect(state.withLock { $0.peak } == 3)
    }

    /// Items of a full named pool wait without holding up others, in order, however many queue.
    @Test func aFullPoolDoesNotHoldUpOthers() async throws {
        let pool = WorkerPool(limit: 3, pools: ["narrow": 1])
        let state = Mutex((narrow: 0, narrowPeak: 0, order: [Int](), finished: 0))
        let (done, continuation) = AsyncStream<Void>.makeStream()
        for index in 0..<300 {
            let narrow = index % 3 == 0
            pool.submit(pool: narrow ? "narrow" : nil) {
                state.withLock {
                    if narrow {
                        $0.narrow += 1
                        $0.narrowPeak = max($0.narrowPeak, $0.narrow)
                        $0.order.append(index)
                    }
                }
                await Task.yield()
                state.withLock {
                    if narrow { $0.narrow -= 1 }
                    $0.finished += 1
                }
                continuation.yield()
            }
        }
        var finished = 0
        for await _ in done {
            finished += 1
            if finished == 300 { break }
        }
        let result = state.withLock { $0 }
        #expect(result.narrowPeak == 1)
        #expect(result.order == Array(stride(from: 0, to: 300, by: 3)), "first come, first served within the pool")
        #expect(pool.counts.queued == 0)
    }
}

@Suite struct BuildEngineTests {
    func engine(_ yaml: String) throws -> BuildEngine {
        try testEngine(yaml)
    }

    @Test func commandOutputBecomesLogRecords() async throws {
        let engine = try engine(
            "jobs:\n  - {id: a, command: 'echo out; echo err >&2; echo \"id=$JOBCONTROL_BUILD_ID job=$JOBCONTROL_JOB_ID $1\"', args: [arg1]}\n"
        )
        let created = try await engine.run(jobID: "a")
        let build = try await engine.waitUntilFinished(created.id)
        #expect(build.state == .successful)
        let logs = try engine.storage.iterLogMessages(LogQuery(buildID: build.id))
        #expect(logs.contains { $0.message == "out" && $0.level == LogLevel.info.rawValue && $0.logger == "stdout" })
        #expect(logs.contains { $0.message == "err" && $0.level == LogLevel.warning.rawValue && $0.logger == "stderr" })
        #expect(logs.contains { $0.message == "id=\(build.id) job=a arg1" })
    }

    @Test func exitStatusDecidesAndFailureIsStored() async throws {
        let engine = try engine("jobs:\n  - {id: a, command: 'echo bad >&2; exit 7'}\n")
        let build = try await engine.waitUntilFinished(try await engine.run(jobID: "a").id)
        #expect(build.state == .failed)
        #expect(build.exception?["type"] == "CommandFailed")
        #expect(build.exception?["exit_status"] == 7)
        #expect(build.exception?["stderr_tail"] == ["bad"])
        let traceback = TracebackInfo(json: try #require(build.exceptionTraceback))
        #expect(traceback.frames.first?.filename == "/bin/sh")
        #expect(traceback.frames.first?.line == "/bin/sh -c 'echo bad >&2; exit 7' sh")
        #expect(traceback.frames.first?.context == ["bad"])
        #expect(traceback.frames.first?.locals["exit_status"] == "7")
    }

    @Test func spawnFailureIsAFailedBuildNotACrash() async throws {
        let engine = try engine(
            "jobs:\n  - {id: a, command: [/nonexistent/program, x]}\n  - {id: b, command: [no-such-program-xyz]}\n")
        for job in ["a", "b"] {
            let build = try await engine.waitUntilFinished(try await engine.run(jobID: job).id)
            #expect(build.state == .failed)
            #expect(build.exception?["type"] == "SpawnFailed")
        }
    }

    @Test func signalIsReported() async throws {
        let engine = try engine("jobs:\n  - {id: a, command: 'kill -TERM $$'}\n")
        let build = try await engine.waitUntilFinished(try await engine.run(jobID: "a").id)
        #expect(build.exception?["type"] == "CommandKilled")
        #expect(build.exception?["signal"] == .int(Int64(SIGTERM)))
    }

    @Test func dependenciesArePinnedAndRetvalsResolved() async throws {
        var registry = FunctionRegistry.builtins
        registry.register("test:answer") { _, args, _ in .object(["answer": args.first ?? .null]) }
        registry.register("test:echo") { _, args, kwargs in .array(args + [.object(kwargs)]) }
        let config = try ConfigLoader.parse(
            yaml: """
                jobs:
                  - {id: dep, function: 'test:answer', args: [42]}
                  - {id: top, function: 'test:echo', dependencies: [dep], args: [!retval dep], kwargs: {k: !retval dep}}
                """, file: "t.yaml", registry: registry)
        let storage = try StorageFactory.open(url: "sqlite::memory:")
        try storage.install()
        let engine = BuildEngine(
            config: config, storage: storage, registry: registry,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        await #expect(throws: EngineError.self) { try await engine.run(jobID: "top") }
        #expect(try storage.getJobBuilds(jobID: "top", filter: BuildFilter(), order: .ascending, limit: 5).isEmpty)
        let dep = try await engine.waitUntilFinished(try await engine.run(jobID: "dep").id)
        #expect(dep.retval == ["answer": 42])
        let top = try await engine.waitUntilFinished(try await engine.run(jobID: "top").id)
        #expect(top.config["build"]?["dependency_builds"]?["dep"] == .int(dep.id))
        #expect(top.retval == [["answer": 42], ["k": ["answer": 42]]])
    }

    @Test func unknownJobIsRefused() async throws {
        let engine = try engine("jobs: []\n")
        await #expect(throws: EngineError.self) { try await engine.run(jobID: "nope") }
    }
}

/// The per-build readers that parse kernel files by hand (issue 19), against the kernel's own
/// answers.
@Suite struct KernelFileReaderTests {
    /// /proc/PID/stat of a process whose name holds spaces and parentheses: the group and the
    /// start time are read after the last ")", as `ps` reads them.
    @Test func processStatIsParsedAfterTheLastParenthesis() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jc-stat-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let program = directory.appendingPathComponent("a) 1 (b").path
        try FileManager.default.copyItem(atPath: "/bin/sleep", toPath: program)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = ["30"]
        try process.run()
        let pid = process.processIdentifier
        defer {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
        let text = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        #expect(text.contains("(a) 1 (b)"))
        let fields = text[text.index(after: text.lastIndex(of: ")")!)...].split(separator: " ")
        let parsed = try #require(ProcessGroups.stat(of: pid))
        #expect(parsed.group == getpgid(pid))
        #expect(parsed.start == Int64(fields[19]))
        #expect(ProcessGroups.stat(of: getpid())?.group == getpgrp())
        #expect(ProcessGroups.stat(of: 999_999_999) == nil)
    }

    /// A cgroup file is read whole, however it is split into reads.
    @Test func cgroupFilesAreReadWhole() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("jc-read-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let text = (0..<2000).map { "line \($0)" }.joined(separator: "\n")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(CgroupHost.read(path) == text)
        #expect(CgroupHost.read(path + ".missing") == nil)
    }
}
