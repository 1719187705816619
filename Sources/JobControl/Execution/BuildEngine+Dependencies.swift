import Dispatch
import FoundationEssentials
import Glibc

extension BuildEngine {
    /// The dependencies (transitively) that must be built before `jobID` can run, in dependency
    /// order: those without a successful build, those that are outdated (a dependency of theirs
    /// has a newer successful build than the one they pinned), and those depending on any of these.
    /// Jobs in `rebuilding` are built whatever their state (a run gave them parameter values),
    /// and so are the jobs between them and `jobID`. Jobs in `pinned` (the run names the build
    /// of theirs to use) are not built, nor is anything for their sake.
    public func dependencyPlan(for jobID: String, rebuilding: Set<String> = [], pinned: Set<String> = [])
        throws(EngineError) -> [String]
    {
        guard let job = config.job(jobID) else { throw .noSuchJob(jobID) }
        var plan: [String] = []
        var decided: [String: Bool] = Dictionary(uniqueKeysWithValues: pinned.map { ($0, false) })
        func visit(_ id: String) throws(EngineError) -> Bool {
            if let known = decided[id] { return known }
            guard let dependency = config.job(id) else { throw .noSuchJob(id) }
            var rebuiltBelow = false
            for next in dependency.dependencies where try visit(next) { rebuiltBelow = true }
            var needed = rebuiltBelow || rebuilding.contains(id)
            if !needed {
                do throws(StorageError) { needed = try isStale(dependency) } catch { throw .storage(error) }
            }
            decided[id] = needed
            if needed { plan.append(id) }
            return needed
        }
        for dependency in job.dependencies { _ = try visit(dependency) }
        return plan
    }

    /// No successful build, or its latest successful build pinned older builds than the latest
    /// successful builds of its dependencies.
    func isStale(_ job: JobConfig) throws(StorageError) -> Bool {
        guard let latest = try storage.getLatestSuccessfulBuild(jobID: job.id) else { return true }
        return try isOutdated(latest, of: job)
    }

    func isOutdated(_ build: Build, of job: JobConfig) throws(StorageError) -> Bool {
        for dependency in job.dependencies {
            guard let newest = try storage.getLatestSuccessfulBuild(jobID: dependency) else { continue }
            let pinned = build.config["build"]?["dependency_builds"]?[dependency]?.intValue ?? 0
            if newest.id > pinned { return true }
        }
        return false
    }

    /// `--build-deps`: builds the missing or outdated dependencies of `jobID` first, in dependency
    /// order and in parallel where independent, then creates the job's own build (pinned to
    /// them). `onBuild` sees each build as it is created and as it ends. If a dependency fails,
    /// the jobs depending on it are not run: each gets a FAILED build with a `DependencyFailed`
    /// exception, and the request fails with ``EngineError/dependencyFailed(job:dependency:build:)``.
    /// `parameters` are the job's own; a dependency build gets only what `dependencyParameters`
    /// gives it (by job id), over its defaults. Whether the job and each planned dependency may
    /// run (enabled, `--force` for a protected one, valid pins, parameters) is checked before
    /// anything runs; a pinned dependency is not rebuilt.
    public nonisolated func runBuildingDependencies(
        jobID: String, force: Bool, pins: [String: Int64] = [:], parameters: [String: JSONValue] = [:],
        dependencyParameters: [String: [String: JSONValue]] = [:],
        onBuild: @escaping @Sendable (Build) async -> Void
    ) async throws(EngineError) -> Build {
        try await checkRunnable(jobID: jobID, force: force, pins: pins)
        try await checkParameters(jobID: jobID, parameters)
        for dependency in dependencyParameters.keys.sorted() where pins[dependency] != nil {
            throw .invalidParameters(
                job: dependency,
                .malformed(
                    "'\(dependency)' is pinned to build \(pins[dependency]!), so it is not built and gets no parameters"
                ))
        }
        // A dependency given parameter values is built with them, even when it is up to date.
        let plan = try await dependencyPlan(
            for: jobID, rebuilding: Set(dependencyParameters.keys), pinned: Set(pins.keys))
        for dependency in dependencyParameters.keys.sorted() where !plan.contains(dependency) {
            guard await config.job(dependency) != nil else { throw .noSuchJob(dependency) }
            throw .invalidParameters(
                job: dependency,
                .malformed("'\(dependency)' is not a dependency of '\(jobID)', so it gets no parameters"))
        }
        for dependency in plan {
            try await checkRunnable(jobID: dependency, force: force, pins: [:])
            try await checkParameters(jobID: dependency, dependencyParameters[dependency] ?? [:])
        }
        let jobs = await config.jobs
        let dependenciesOf = Dictionary(
            jobs.map { ($0.id, Set($0.dependencies)) }, uniquingKeysWith: { first, _ in first })
        var pending = plan
        while !pending.isEmpty {
            // A wave: every planned job whose planned dependencies are all built.
            let wave = pending.filter { dependenciesOf[$0, default: []].isDisjoint(with: pending) }
            pending.removeAll { wave.contains($0) }
            let finished = await runWave(wave, force: force, parameters: dependencyParameters, onBuild: onBuild)
            for result in finished {
                let build: Build
                switch result {
                case .failure(let error): throw error
                case .success(let value): build = value
                }
                guard build.state == .successful else {
                    _ = try await recordNotRunDependents(
                        of: build, among: pending + [jobID], dependenciesOf: dependenciesOf, onBuild: onBuild)
                    throw .dependencyFailed(job: jobID, dependency: build.jobID, build: build.id)
                }
            }
        }
        return try await run(jobID: jobID, force: force, pins: pins, parameters: parameters)
    }

    /// Builds every job of `wave` at once (each pinned to its dependencies' latest successful
    /// builds) and waits for them all; results in the order they ended.
    nonisolated func runWave(
        _ wave: [String], force: Bool, parameters: [String: [String: JSONValue]] = [:],
        onBuild: @escaping @Sendable (Build) async -> Void
    ) async -> [Result<Build, EngineError>] {
        // The wave's builds are created in one transaction; a failure there fails them all.
        let created: [Build]
        do throws(EngineError) {
            created = try await runMany(
                jobIDs: wave, force: force, trigger: ["kind": "dependency"], parameters: parameters)
        } catch {
            return wave.map { _ in .failure(error) }
        }
        return await withTaskGroup(of: Result<Build, EngineError>.self) { group in
            for build in created {
                group.addTask {
                    do throws(EngineError) {
                        await onBuild(build)
                        let finished = try await self.waitUntilFinished(build.id)
                        await onBuild(finished)
                        return .success(finished)
                    } catch {
                        return .failure(error)
                    }
                }
            }
            var results: [Result<Build, EngineError>] = []
            for await result in group { results.append(result) }
            return results
        }
    }

    /// Gives each job in `candidates` that depends (transitively) on `failed` a FAILED build that
    /// never ran, so the history shows why it did not run.
    private func recordNotRunDependents(
        of failed: Build, among candidates: [String], dependenciesOf: [String: Set<String>],
        onBuild: @Sendable (Build) async -> Void
    ) async throws(EngineError) -> [Build] {
        try await recordNotRunDependents(
            of: failed.jobID,
            reason:
                "not run: dependency '\(failed.jobID)' \(failed.state == .skipped ? "was skipped" : "failed") in build \(failed.id)",
            details: ["dependency": .string(failed.jobID), "dependency_build": .int(failed.id)], among: candidates,
            dependenciesOf: dependenciesOf, onBuild: onBuild)
    }

    /// Gives each job in `candidates` that depends (transitively) on `failed` a FAILED
    /// `DependencyFailed` build that never ran, saying `reason`.
    private func recordNotRunDependents(
        of failed: String, reason: String, details: [String: JSONValue] = [:], among candidates: [String],
        dependenciesOf: [String: Set<String>], onBuild: @Sendable (Build) async -> Void
    ) async throws(EngineError) -> [Build] {
        var made: [Build] = []
        var blocked: Set<String> = [failed]
        var changed = true
        while changed {
            changed = false
            for id in candidates
            where !blocked.contains(id) && !dependenciesOf[id, default: []].isDisjoint(with: blocked) {
                blocked.insert(id)
                changed = true
            }
        }
        for id in candidates where blocked.contains(id) {
            let exception = BuildException(type: "DependencyFailed", message: reason, details: details)
            if let build = try await recordNotRun(id, exception, onBuild: onBuild) { made.append(build) }
        }
        return made
    }

    /// A FAILED build of `jobID` that never ran, with `exception` saying why.
    private func recordNotRun(_ jobID: String, _ exception: BuildException, onBuild: @Sendable (Build) async -> Void)
        async throws(EngineError) -> Build?
    {
        guard let job = config.job(jobID) else { return nil }
        do {
            let buildID = try storage.createNotRunBuild(
                jobID: jobID, jobConfig: job.storedJSON, exception: exception.json)
            // Counted as every failed build is: a JobFailing alert sees a job its dependency stopped.
            DaemonMetrics.shared.buildFinished(job: jobID, result: "failed", duration: nil, at: Date())
            guard let build = try storage.getBuild(buildID) else { return nil }
            await onBuild(build)
            return build
        } catch {
            throw .storage(error)
        }
    }
}

extension BuildEngine {
    /// Every job that depends on `jobID`, directly or through others.
    public func dependents(of jobID: String) -> [String] {
        var found: [String] = []
        var frontier: Set<String> = [jobID]
        while !frontier.isEmpty {
            let next = config.jobs.filter {
                !found.contains($0.id) && $0.id != jobID && !frontier.isDisjoint(with: $0.dependencies)
            }
            found += next.map(\.id)
            frontier = Set(next.map(\.id))
        }
        return found
    }

    /// `--build-revdeps`: after a successful build of `jobID`, builds the jobs that depend on it
    /// (transitively), each once its dependencies among them have succeeded, in parallel where
    /// independent. A dependent whose dependency failed gets a FAILED build that never ran.
    /// Returns every build it made, in the order they ended.
    public nonisolated func runDependents(
        of jobID: String, force: Bool, onBuild: @escaping @Sendable (Build) async -> Void
    )
        async throws(EngineError) -> [Build]
    {
        let jobs = await config.jobs
        let dependenciesOf = Dictionary(
            jobs.map { ($0.id, Set($0.dependencies)) }, uniquingKeysWith: { first, _ in first })
        var pending = await dependents(of: jobID)
        var made: [Build] = []
        while !pending.isEmpty {
            var wave = pending.filter { dependenciesOf[$0, default: []].isDisjoint(with: pending) }
            pending.removeAll { wave.contains($0) }
            // A dependent that cannot run (disabled, protected without --force, another of its
            // dependencies never built) does not stop the others: it is left out, with a record
            // of why unless it is disabled, and so are the jobs that depend on it.
            for id in wave {
                guard let reason = await whyNotRunnable(jobID: id, force: force) else { continue }
                // The daemon stopping or the storage failing ends the request; only what is
                // about the job itself makes it a dependent that cannot run.
                switch reason {
                case .shuttingDown, .storage: throw reason
                default: break
                }
                wave.removeAll { $0 == id }
                if case .jobDisabled = reason {
                    logger.info("--build-revdeps: a disabled dependent is not built", metadata: ["job.id": "\(id)"])
                } else if let record = try await recordNotRun(
                    id, BuildException(type: "NotRun", message: "not run: \(reason)"), onBuild: onBuild)
                {
                    made.append(record)
                }
                let blocked = try await recordNotRunDependents(
                    of: id, reason: "not run: dependency '\(id)' could not run", among: pending,
                    dependenciesOf: dependenciesOf, onBuild: onBuild)
                made += blocked
                pending.removeAll { id in blocked.contains { $0.jobID == id } }
            }
            let finished = await runWave(wave, force: force, onBuild: onBuild)
            for result in finished {
                switch result {
                case .failure(let error): throw error
                case .success(let build):
                    made.append(build)
                    if build.state != .successful {
                        let blocked = try await recordNotRunDependents(
                            of: build, among: pending, dependenciesOf: dependenciesOf, onBuild: onBuild)
                        made += blocked
                        pending.removeAll { id in blocked.contains { $0.jobID == id } }
                    }
                }
            }
        }
        return made
    }
}
