import Foundation
import Logging
import Synchronization
import Testing

@testable import JobControl

@Suite struct DeleteTests {
    /// The build ids a cleanup function was called with.
    final class CalledWith: Sendable {
        let ids = Mutex<[Int64]>([])
    }

    /// An engine whose jobs `cleans` and `refuses` have the cleanup function `test:cleanup`
    /// (it records the ids it is called with, and refuses the builds of `refuses`), and `plain`
    /// runs `plainCommand`.
    static func rig(daemonKeys: String = "", plainCommand: String) throws -> (
        engine: BuildEngine, storage: any Storage, seen: CalledWith
    ) {
        let seen = CalledWith()
        var registry = FunctionRegistry.builtins
        registry.register("test:cleanup") { _, args, _ in
            let id = args.first?["id"]?.intValue ?? -1
            seen.ids.withLock { $0.append(id) }
            if args.first?["job_id"] == "refuses" { throw BuildException(type: "Busy", message: "files still in use") }
            return nil
        }
        let config = try ConfigLoader.parse(
            yaml: daemonKeys + """
                jobs:
                  - {id: cleans, command: 'true', cleanup_function: 'test:cleanup'}
                  - {id: refuses, command: 'true', cleanup_function: 'test:cleanup'}
                  - {id: plain, command: '\(plainCommand)'}
                """, file: "t.yaml", registry: registry)
        let storage = try StorageFactory.open(url: "sqlite::memory:")
        try storage.install()
        let engine = BuildEngine(
            config: config, storage: storage, registry: registry,
            logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        return (engine, storage, seen)
    }

    @Test func deleteCallsTheCleanupFunctionAndKeepsTheBuildWhenItFails() async throws {
        let (engine, storage, seen) = try Self.rig(plainCommand: "sleep 300")  // cancelled below
        let cleans = try await engine.waitUntilFinished(try await engine.run(jobID: "cleans").id)
        let refuses = try await engine.waitUntilFinished(try await engine.run(jobID: "refuses").id)
        try await engine.delete(buildID: cleans.id)
        #expect(try storage.getBuild(cleans.id) == nil)
        await #expect(throws: EngineError.self) { try await engine.delete(buildID: refuses.id) }
        #expect(try storage.getBuild(refuses.id) != nil)
        #expect(seen.ids.withLock { $0 } == [cleans.id, refuses.id])
        let running = try await engine.run(jobID: "plain")
        await #expect(throws: EngineError.self) { try await engine.delete(buildID: running.id) }
        try await engine.cancel(buildID: running.id)
        _ = try await engine.waitUntilFinished(running.id)
        try await engine.delete(buildID: running.id)
        #expect(throws: ConfigError.self) {
            try ConfigLoader.parse(
                yaml: "jobs:\n  - {id: a, command: x, cleanup_function: 'jobcontrol:nosuch'}\n", file: "t.yaml")
        }
    }

    /// A cleanup function that counts its calls and returns only once ``open()`` is called.
    final class GatedCleanup: Sendable {
        let calls = Mutex(0)
        private let isOpen = Mutex(false)

        struct NeverCalled: Error {}

        func register(_ name: String, in registry: inout FunctionRegistry) {
            registry.register(name) { [self] _, _, _ in
                calls.withLock { $0 += 1 }
                while !isOpen.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
                return nil
            }
        }

        func open() { isOpen.withLock { $0 = true } }

        /// Waits until the function has been called (30 s at most, then throws).
        func waitUntilCalled() async throws {
            let deadline = ContinuousClock.now + .seconds(30)
            while calls.withLock({ $0 }) == 0 {
                guard ContinuousClock.now < deadline else { throw NeverCalled() }
                try await Task.sleep(for: .milliseconds(5))
            }
        }
    }

    /// While a build's cleanup function runs (`jobctl delete`), no new build pins it: a run that
    /// would (its dependency's latest build, or a pin given) is refused, and the delete goes
    /// through once the function has returned. Before, the run pinned it, and the delete then
    /// refused (the build was pinned) after the function had removed what the build names.
    @Test func aBuildBeingDeletedIsNotPinned() async throws {
        let cleanup = GatedCleanup()
        var registry = FunctionRegistry.builtins
        cleanup.register("test:gated-cleanup", in: &registry)
        let engine = try testEngine(
            """
            jobs:
              - {id: dep, command: 'true', cleanup_function: 'test:gated-cleanup'}
              - {id: user, command: 'true', dependencies: [dep]}
            """, registry: registry)
        let dep = try await engine.waitUntilFinished(try await engine.run(jobID: "dep").id)
        let deletion = Task { try await engine.delete(buildID: dep.id) }
        try await cleanup.waitUntilCalled()
        for pins in [[:], ["dep": dep.id]] {
            do {
                let build = try await engine.run(jobID: "user", pins: pins)
                Issue.record("build \(build.id) pinned build \(dep.id) while it was being deleted (pins: \(pins))")
            } catch {
                guard case .badPin(_, "dep", let reason) = error else {
                    Issue.record("unexpected error: \(error)")
                    continue
                }
                #expect(reason.contains("being deleted"), "\(reason)")
            }
        }
        cleanup.open()
        try await deletion.value
        #expect(try engine.storage.getBuild(dep.id) == nil)
        // Once deleted, the dependency has no successful build left.
        await #expect(throws: EngineError.self) { try await engine.run(jobID: "user") }
    }

    /// Two deletes of one build at once (retention beside `jobctl delete`): its cleanup function
    /// runs once, and the second delete, which waited for the first, finds the build gone.
    @Test func twoDeletesOfOneBuildRunItsCleanupOnce() async throws {
        let cleanup = GatedCleanup()
        var registry = FunctionRegistry.builtins
        cleanup.register("test:gated-cleanup", in: &registry)
        let engine = try testEngine(
            "jobs:\n  - {id: dep, command: 'true', cleanup_function: 'test:gated-cleanup'}\n", registry: registry)
        let id = try await engine.waitUntilFinished(try await engine.run(jobID: "dep").id).id
        let first = Task { try await engine.delete(buildID: id) }
        try await cleanup.waitUntilCalled()
        let second = Task { () async -> EngineError? in
            do throws(EngineError) {
                try await engine.delete(buildID: id)
                return nil
            } catch {
                return error
            }
        }
        // The second waits for the first (or, before the fix, runs the function a second time).
        let deadline = ContinuousClock.now + .seconds(30)
        while await engine.deleting[id]?.isEmpty ?? true, cleanup.calls.withLock({ $0 }) < 2,
            ContinuousClock.now < deadline
        {
            try await Task.sleep(for: .milliseconds(5))
        }
        cleanup.open()
        try await first.value
        let refusal = await second.value
        #expect(cleanup.calls.withLock { $0 } == 1, "the cleanup function ran \(cleanup.calls.withLock { $0 }) times")
        guard case .noSuchBuild(id) = refusal else {
            Issue.record("the second delete ended with \(String(describing: refusal)), not noSuchBuild")
            return
        }
        #expect(try engine.storage.getBuild(id) == nil)
    }

    /// Retention deletes a build as `jobctl delete` does: after its job's cleanup function, and
    /// not at all when that function refuses (it went straight to storage, cleanup skipped).
    @Test func retentionDeletesThroughTheCleanupFunction() async throws {
        let (engine, storage, seen) = try Self.rig(
            daemonKeys: "build_retention: {keep_last: 1}\n", plainCommand: "true")
        var ids: [String: [Int64]] = [:]
        for job in ["cleans", "refuses", "plain"] {
            for _ in 0..<3 {
                ids[job, default: []].append(try await engine.waitUntilFinished(try await engine.run(jobID: job).id).id)
            }
        }
        let dry = try await engine.prune(dryRun: true)
        #expect(seen.ids.withLock { $0 }.isEmpty, "a dry run called a cleanup function")
        #expect(dry.builds.mapValues(\.count) == ["cleans": 2, "refuses": 2, "plain": 2])
        let report = try await engine.prune(dryRun: false)
        #expect(
            report.builds.mapValues { $0.sorted() } == [
                "cleans": Array(ids["cleans"]![..<2]), "plain": Array(ids["plain"]![..<2]),
            ])
        #expect(seen.ids.withLock { $0 }.sorted() == (ids["cleans"]![..<2] + ids["refuses"]![..<2]).sorted())
        for id in ids["cleans"]![..<2] + ids["plain"]![..<2] { #expect(try storage.getBuild(id) == nil) }
        for id in ids["refuses"]! {
            #expect(try storage.getBuild(id) != nil, "a build whose cleanup refused was deleted")
        }
    }
}

@Suite struct SwiftFunctionTests {
    @Test func aRegisteredFunctionReportsProgressLogsReturnsAndSkips() async throws {
        var registry = FunctionRegistry.builtins
        registry.register("reports:sum") { context, args, kwargs in
            let numbers = args.compactMap(\.intValue)
            for (index, _) in numbers.enumerated() {
                try context.progress(
                    Int64(index + 1), of: Int64(numbers.count), group: "sum::numbers", status: "adding")
            }
            context.log(.info, "summed \(numbers.count) numbers", logger: "reports")
            if kwargs["skip"] == true { throw BuildSkipped("asked to skip") }
            return ["sum": .int(numbers.reduce(0, +))]
        }
        registry.register("reports:fail") { _, _, _ in
            struct ReportError: Error, CustomStringConvertible { var description: String { "no data for today" } }
            throw ReportError()
        }
        let config = try ConfigLoader.parse(
            yaml: """
                jobs:
                  - {id: sum, function: 'reports:sum', args: [1, 2, 3]}
                  - {id: skipper, function: 'reports:sum', args: [1], kwargs: {skip: true}}
                  - {id: failing, function: 'reports:fail'}
                """, file: "t.yaml", registry: registry)
        let storage = try StorageFactory.open(url: "sqlite::memory:")
        try storage.install()
        let engine = BuildEngine(
            config: config, storage: storage, registry: registry,
            logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        let sum = try await engine.waitUntilFinished(try await engine.run(jobID: "sum").id)
        #expect(sum.state == .successful && sum.retval == ["sum": 6])
        let progress = try storage.getBuildProgressInfo(sum.id)
        #expect(progress.first { $0.group.name == "sum::numbers" }.map { ($0.current, $0.total) } ?? (0, 0) == (3, 3))
        #expect(
            try storage.iterLogMessages(LogQuery(buildID: sum.id)).contains {
                $0.logger == "reports" && $0.message == "summed 3 numbers"
            })
        let skipped = try await engine.waitUntilFinished(try await engine.run(jobID: "skipper").id)
        #expect(skipped.state == .skipped)
        let failing = try await engine.waitUntilFinished(try await engine.run(jobID: "failing").id)
        #expect(failing.state == .failed)
        #expect(failing.exception?["message"] == "no data for today")
        #expect(failing.exception?["type"]?.stringValue?.contains("ReportError") == true)
    }
}
