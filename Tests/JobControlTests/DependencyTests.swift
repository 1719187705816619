import Foundation
import Logging
import Synchronization
import Testing

@testable import JobControl

@Suite struct PinningTests {
    @Test func pinningAnOlderBuildReproducesItsInputs() async throws {
        var registry = FunctionRegistry.builtins
        registry.register("test:own-id") { context, _, _ in .int(context.buildID) }
        registry.register("test:echo") { _, args, _ in .array(args) }
        let config = try ConfigLoader.parse(
            yaml: """
                jobs:
                  - {id: dep, function: 'test:own-id'}
                  - {id: other, function: 'test:own-id'}
                  - {id: top, function: 'test:echo', dependencies: [dep], args: [!retval dep]}
                """, file: "t.yaml", registry: registry)
        let storage = try StorageFactory.open(url: "sqlite::memory:")
        try storage.install()
        let engine = BuildEngine(
            config: config, storage: storage, registry: registry,
            logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        let older = try await engine.waitUntilFinished(try await engine.run(jobID: "dep").id)
        let newer = try await engine.waitUntilFinished(try await engine.run(jobID: "dep").id)
        let other = try await engine.waitUntilFinished(try await engine.run(jobID: "other").id)
        let latest = try await engine.waitUntilFinished(try await engine.run(jobID: "top").id)
        #expect(latest.retval == [.int(newer.id)])
        let pinned = try await engine.waitUntilFinished(try await engine.run(jobID: "top", pins: ["dep": older.id]).id)
        #expect(pinned.retval == [.int(older.id)])
        #expect(pinned.config["build"]?["dependency_builds"]?["dep"] == .int(older.id))
        await #expect(throws: EngineError.self) { try await engine.run(jobID: "top", pins: ["dep": other.id]) }
        await #expect(throws: EngineError.self) { try await engine.run(jobID: "top", pins: ["other": other.id]) }
        await #expect(throws: EngineError.self) { try await engine.run(jobID: "top", pins: ["dep": 9999]) }
    }
}

extension PinningTests {
    /// A build pinned by a dependent that has not finished is not deleted (the dependent failed
    /// with RetvalUnavailable when it started); once the dependent has ended, it may be.
    @Test func aBuildPinnedByAnUnfinishedOneIsKept() async throws {
        let open = Mutex(false)
        var registry = FunctionRegistry.builtins
        registry.register("test:own-id") { context, _, _ in .int(context.buildID) }
        registry.register("test:hold") { _, args, _ in
            while !open.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
            return .array(args)
        }
        let config = try ConfigLoader.parse(
            yaml: """
                pools: {one: {workers: 1}}
                jobs:
                  - {id: dep, function: 'test:own-id'}
                  - {id: blocker, function: 'test:hold', pool: one}
                  - {id: child, function: 'test:hold', pool: one, dependencies: [dep], args: [!retval dep]}
                """, file: "t.yaml", registry: registry)
        let storage = try StorageFactory.open(url: "sqlite::memory:")
        try storage.install()
        let engine = BuildEngine(
            config: config, storage: storage, registry: registry,
            logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        let dep = try await engine.waitUntilFinished(try await engine.run(jobID: "dep").id)
        _ = try await engine.run(jobID: "blocker")
        let child = try await engine.run(jobID: "child")
        do {
            try await engine.delete(buildID: dep.id)
            Issue.record("the pinned build was deleted")
        } catch {
            #expect("\(error)".contains("pinned as a dependency by build \(child.id)"), "\(error)")
        }
        open.withLock { $0 = true }
        let ended = try await engine.waitUntilFinished(child.id)
        #expect(ended.retval == [.int(dep.id)], "\(ended.exception ?? .null)")
        try await engine.delete(buildID: dep.id)
    }
}

@Suite struct BuildDependenciesTests {
    /// With `meeting`, b and c meet there (each waits, 30 s at most, for the other to have
    /// started): built together, they overlap however slowly the test runs. Without, each
    /// takes 0.3 s.
    static func diamond(meeting: String? = nil) -> String {
        func waits(_ own: String, for other: String) -> String {
            guard let meeting else { return "sleep 0.3" }
            return
                "touch \(meeting)/\(own); i=0; while [ ! -e \(meeting)/\(other) ] && [ $i -lt 1500 ]; do sleep 0.02; i=$((i+1)); done"
        }
        return """
            workers: 4
            jobs:
              - {id: a, command: 'sleep 0.1'}
              - {id: b, command: '\(waits("b", for: "c"))', dependencies: [a]}
              - {id: c, command: '\(waits("c", for: "b"))', dependencies: [a]}
              - {id: d, command: 'echo d', dependencies: [b, c]}
              - {id: bad, command: 'exit 9', dependencies: [a]}
              - {id: e, command: 'echo e', dependencies: [bad, b]}
              - {id: f, command: 'echo f', dependencies: [e]}
            """
    }

    /// A directory for ``diamond(meeting:)``, removed when the test ends.
    static func meetingPlace() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("jc-diamond-\(UUID())").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func engine(meeting: String? = nil) throws -> BuildEngine {
        let config = try ConfigLoader.parse(yaml: Self.diamond(meeting: meeting), file: "t.yaml")
        let storage = try StorageFactory.open(url: "sqlite::memory:")
        try storage.install()
        return BuildEngine(
            config: config, storage: storage, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    func builds(_ engine: BuildEngine, _ job: String) throws -> [Build] {
        try engine.storage.getJobBuilds(jobID: job, filter: BuildFilter(), order: .ascending, limit: 100)
    }

    @Test func aDiamondIsBuiltOnceEachIndependentOnesTogether() async throws {
        let meeting = try Self.meetingPlace()
        defer { try? FileManager.default.removeItem(atPath: meeting) }
        let engine = try engine(meeting: meeting)
        #expect(try await engine.dependencyPlan(for: "d") == ["a", "b", "c"])
        let target = try await engine.runBuildingDependencies(jobID: "d", force: false) { _ in }
        let d = try await engine.waitUntilFinished(target.id)
        #expect(d.state == .successful)
        for job in ["a", "b", "c"] { #expect(try builds(engine, job).count == 1, "\(job) built once") }
        let b = try builds(engine, "b")[0], c = try builds(engine, "c")[0], a = try builds(engine, "a")[0]
        // b and c ran at the same time, both after a.
        #expect(b.startTime! < c.endTime! && c.startTime! < b.endTime!)
        #expect(b.startTime! >= a.endTime! && c.startTime! >= a.endTime!)
        #expect(d.config["build"]?["dependency_builds"] == ["b": .int(b.id), "c": .int(c.id)])

        // Up to date: nothing to build first.
        #expect(try await engine.dependencyPlan(for: "d") == [])
        // A newer build of a makes b and c outdated.
        _ = try await engine.waitUntilFinished(try await engine.run(jobID: "a").id)
        #expect(try await engine.dependencyPlan(for: "d") == ["b", "c"])
    }

    @Test func aFailedDependencyStopsItsDependentsAndRecordsThem() async throws {
        let engine = try engine()
        do {
            _ = try await engine.runBuildingDependencies(jobID: "f", force: false) { _ in }
            Issue.record("expected DependencyFailed")
        } catch {
            guard case .dependencyFailed(let job, let dependency, _) = error else { throw error }
            #expect(job == "f" && dependency == "bad")
        }
        for job in ["e", "f"] {
            let recorded = try #require(try builds(engine, job).first)
            #expect(recorded.state == .failed && !recorded.started)
            #expect(recorded.exception?["type"] == "DependencyFailed")
        }
    }
}

/// `--build-deps` decides whether the run may happen before it builds anything, and builds
/// nothing for a dependency the run pins.
@Suite struct BuildDependenciesRefusalTests {
    static let config = """
        jobs:
          - {id: base, command: 'true'}
          - {id: dep, command: 'echo dep', dependencies: [base]}
          - {id: other, command: 'echo other'}
          - {id: guarded, command: 'true', protected: true, dependencies: [dep]}
          - {id: off, command: 'true', enabled: false, dependencies: [dep]}
          - {id: top, command: 'true', dependencies: [dep, other]}
          - {id: via-off, command: 'true', dependencies: [off]}
        """

    func builds(_ engine: BuildEngine, _ job: String) throws -> [Build] {
        try engine.storage.getJobBuilds(jobID: job, filter: BuildFilter(), order: .ascending, limit: 10)
    }

    @Test func aRunThatWouldBeRefusedBuildsNoDependencyFirst() async throws {
        let engine = try testEngine(Self.config)
        func refused(_ job: String, force: Bool = false, pins: [String: Int64] = [:]) async -> EngineError? {
            do {
                _ = try await engine.runBuildingDependencies(jobID: job, force: force, pins: pins) { _ in }
                return nil
            } catch {
                return error
            }
        }
        guard case .jobProtected? = await refused("guarded") else { Issue.record("protected: not refused"); return }
        guard case .jobDisabled? = await refused("off") else { Issue.record("disabled: not refused"); return }
        guard case .badPin? = await refused("top", pins: ["nope": 1]) else { Issue.record("bad pin"); return }
        guard case .badPin? = await refused("top", pins: ["dep": 999]) else { Issue.record("missing pin"); return }
        // A planned dependency that may not run stops the run before anything is built, too.
        guard case .jobDisabled? = await refused("via-off", force: true) else {
            Issue.record("a disabled dependency: not refused")
            return
        }
        for job in ["base", "dep", "other"] { #expect(try builds(engine, job).isEmpty, "\(job) was built") }
    }

    @Test func aPinnedDependencyIsNotRebuilt() async throws {
        let engine = try testEngine(Self.config)
        _ = try await engine.waitUntilFinished(try await engine.run(jobID: "base").id)
        let dep = try await engine.waitUntilFinished(try await engine.run(jobID: "dep").id)
        _ = try await engine.waitUntilFinished(try await engine.run(jobID: "base").id)  // dep is outdated now
        #expect(try await engine.dependencyPlan(for: "top") == ["dep", "other"])
        #expect(try await engine.dependencyPlan(for: "top", pinned: ["dep"]) == ["other"])
        let target = try await engine.runBuildingDependencies(jobID: "top", force: false, pins: ["dep": dep.id]) { _ in
        }
        let top = try await engine.waitUntilFinished(target.id)
        #expect(top.state == .successful)
        #expect(top.config["build"]?["dependency_builds"]?["dep"] == .int(dep.id))
        #expect(try builds(engine, "dep").count == 1)
        #expect(try builds(engine, "base").count == 2)
    }
}

@Suite struct ReverseDependenciesTests {
    /// A dependent that cannot run (disabled, protected, another dependency never built) is left
    /// out, with a record of why unless disabled, and so are its own dependents; the others run.
    @Test func aDependentThatCannotRunDoesNotStopTheOthers() async throws {
        let engine = try testEngine(
            """
            jobs:
              - {id: root, command: 'true'}
              - {id: plain, command: 'true', dependencies: [root]}
              - {id: never, command: 'true'}
              - {id: needs-never, command: 'true', dependencies: [root, never]}
              - {id: after-needs, command: 'true', dependencies: [needs-never]}
              - {id: off, command: 'true', enabled: false, dependencies: [root]}
              - {id: guarded, command: 'true', protected: true, dependencies: [root]}
            """)
        _ = try await engine.waitUntilFinished(try await engine.run(jobID: "root").id)
        let made = try await engine.runDependents(of: "root", force: false) { _ in }
        var states: [String: BuildState] = [:]
        for build in made { states[build.jobID] = try await engine.waitUntilFinished(build.id).state }
        #expect(states["plain"] == .successful, "\(states)")
        #expect(states["needs-never"] == .failed && states["guarded"] == .failed && states["after-needs"] == .failed)
        #expect(states["off"] == nil)
        let guarded = try #require(made.first { $0.jobID == "guarded" })
        #expect(guarded.exception?["type"] == "NotRun" && !guarded.started)
        #expect(guarded.exception?["message"]?.stringValue?.contains("protected") == true)
        let after = try #require(made.first { $0.jobID == "after-needs" })
        #expect(after.exception?["type"] == "DependencyFailed")
    }

    @Test func dependentsAreBuiltAfterASuccessAndBlockedByAFailure() async throws {
        let config = try ConfigLoader.parse(yaml: BuildDependenciesTests.diamond(), file: "t.yaml")
        let storage = try StorageFactory.open(url: "sqlite::memory:")
        try storage.install()
        let engine = BuildEngine(
            config: config, storage: storage, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        #expect(await engine.dependents(of: "a") == ["b", "c", "bad", "d", "e", "f"])
        _ = try await engine.waitUntilFinished(try await engine.run(jobID: "a").id)
        let made = try await engine.runDependents(of: "a", force: false) { _ in }
        let states = Dictionary(made.map { ($0.jobID, $0.state) }, uniquingKeysWith: { first, _ in first })
        #expect(states["b"] == .successful && states["c"] == .successful && states["d"] == .successful)
        #expect(states["bad"] == .failed)
        #expect(states["e"] == .failed && states["f"] == .failed)
        let e = try #require(made.first { $0.jobID == "e" })
        #expect(e.exception?["type"] == "DependencyFailed" && !e.started)
        #expect(made.filter { $0.jobID == "d" }.count == 1)
    }
}

@Suite struct JobStatusTests {
    @Test func statusFollowsTheBuilds() async throws {
        let config = try ConfigLoader.parse(
            yaml:
                "jobs:\n  - {id: a, command: 'exit 0'}\n  - {id: b, command: 'true', dependencies: [a]}\n  - {id: f, command: 'exit 1'}\n",
            file: "t.yaml")
        let storage = try StorageFactory.open(url: "sqlite::memory:")
        try storage.install()
        let engine = BuildEngine(
            config: config, storage: storage, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        #expect(try await engine.status(of: "a").status == .notBuilt)
        _ = try await engine.waitUntilFinished(try await engine.run(jobID: "a").id)
        _ = try await engine.waitUntilFinished(try await engine.run(jobID: "b").id)
        _ = try await engine.waitUntilFinished(try await engine.run(jobID: "f").id)
        #expect(try await engine.status(of: "a").status == .success)
        #expect(try await engine.status(of: "b").status == .success)
        #expect(try await engine.status(of: "f").status == .failed)
        _ = try await engine.waitUntilFinished(try await engine.run(jobID: "a").id)
        #expect(try await engine.status(of: "b").status == .outdated)
        let running = try storage.createBuild(jobID: "a", jobConfig: [:], buildConfig: [:])
        try storage.startBuild(running)
        #expect(try await engine.status(of: "a").status == .running)
    }
}
