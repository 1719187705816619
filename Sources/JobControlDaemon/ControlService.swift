import Foundation
import JobControl
import JobControlProtocol
import Logging

/// Answers Varlink calls: one method per function, dispatched by one exhaustive switch.
///
/// Holds only immutable references (the engine actor owns mutable state), so it is `Sendable`.
final class ControlService: Sendable {
    typealias Send = (VarlinkReply) async throws -> Void

    let engine: BuildEngine
    let storage: any Storage
    let reloader: Reloader
    let startTime: Date
    let logger: Logger

    static let version = "0.1.0"

    init(engine: BuildEngine, storage: any Storage, reloader: Reloader, startTime: Date, logger: Logger) {
        self.engine = engine
        self.storage = storage
        self.reloader = reloader
        self.startTime = startTime
        self.logger = logger
    }

    /// Answers `call` through `send`: one reply, or several for a `more` call. Errors become
    /// Varlink error replies; only a failure to send ends the connection.
    func handle(_ call: VarlinkCall, send: Send) async throws {
        do {
            switch (call.interface, call.methodName) {
            case (Interfaces.service, "GetInfo"): try await send(getInfo())
            case (Interfaces.service, "GetInterfaceDescription"): try await send(getInterfaceDescription(call))
            case (Interfaces.manager, "ListJobs"): try await send(listJobs())
            case (Interfaces.manager, "GetJob"): try await send(getJob(call))
            case (Interfaces.manager, "RunJob"): try await runJob(call, send: send)
            case (Interfaces.manager, "ListBuilds"): try await send(listBuilds(call))
            case (Interfaces.manager, "GetBuild"): try await send(getBuild(call))
            case (Interfaces.manager, "GetLogs"): try await send(getLogs(call))
            case (Interfaces.manager, "GetProgress"): try await send(getProgress(call))
            case (Interfaces.manager, "CancelBuild"): try await send(cancelBuild(call))
            case (Interfaces.manager, "DeleteBuild"): try await send(deleteBuild(call))
            case (Interfaces.build, _): try await send(buildHelper(call))
            case (Interfaces.manager, "Status"): try await send(status())
            case (Interfaces.manager, "Prune"): try await send(prune(call))
            case (Interfaces.manager, "Reload"): try await send(reload())
            case (let interface, _) where Interfaces.all[interface] == nil:
                throw VarlinkError.interfaceNotFound(interface)
            default:
                throw VarlinkError.methodNotFound(call.method)
            }
        } catch let error as VarlinkError {
            try await send(VarlinkReply(error: error))
        }
    }

    // MARK: - org.varlink.service

    func getInfo() -> VarlinkReply {
        VarlinkReply(parameters: [
            "vendor": "JobControl",
            "product": "jobcontrold",
            "version": .string(Self.version),
            "url": "https://github.com/jobcontrol/jobcontrol",
            "interfaces": .array(Interfaces.all.keys.sorted().map { .string($0) }),
        ])
    }

    func getInterfaceDescription(_ call: VarlinkCall) throws(VarlinkError) -> VarlinkReply {
        let name = try Parameters(call).string("interface")
        guard let description = Interfaces.all[name] else { throw .interfaceNotFound(name) }
        return VarlinkReply(parameters: ["description": .string(description)])
    }

    // MARK: - io.jobcontrol.Manager

    func listJobs() async throws(VarlinkError) -> VarlinkReply {
        var values: [JSONValue] = []
        for job in await engine.config.jobs { values.append(try await jobWithStatus(job)) }
        return VarlinkReply(parameters: ["jobs": .array(values)])
    }

    /// A job's wire form with its status and latest build.
    func jobWithStatus(_ job: JobConfig) async throws(VarlinkError) -> JSONValue {
        guard case .object(var object) = WireFormat.job(job) else { return WireFormat.job(job) }
        do {
            let (status, latest) = try await engine.status(of: job.id)
            object["status"] = .string(status.rawValue)
            object["last_build"] = latest.map { .int($0.id) } ?? .null
        } catch {
            throw Self.varlinkError(error)
        }
        return .object(object)
    }

    func getJob(_ call: VarlinkCall) async throws(VarlinkError) -> VarlinkReply {
        let id = try Parameters(call).string("job")
        guard let job = await engine.config.job(id) else { throw Self.varlinkError(.noSuchJob(id)) }
        return VarlinkReply(parameters: ["job": try await jobWithStatus(job)])
    }

    func runJob(_ call: VarlinkCall, send: Send) async throws {
        let parameters = Parameters(call)
        let jobID = try parameters.string("job")
        let force = try parameters.optionalBool("force") ?? false
        var pins: [String: Int64] = [:]
        switch call.parameters["pins"] {
        case nil, .null?: break
        case .object(let object)?:
            for (dependency, value) in object {
                guard let id = value.intValue else { throw VarlinkError.invalidParameter("pins") }
                pins[dependency] = id
            }
        default: throw VarlinkError.invalidParameter("pins")
        }
        let build: Build
        if try parameters.optionalBool("build_deps") ?? false {
            // Dependency builds are streamed (with "more") as they are created and as they end.
            let (updates, continuation) = AsyncStream<Build>.makeStream()
            let engine = engine
            let work = Task { () -> Result<Build, EngineError> in
                defer { continuation.finish() }
                do throws(EngineError) {
                    return .success(
                        try await engine.runBuildingDependencies(jobID: jobID, force: force, pins: pins) { continuation.yield($0) })
                } catch {
                    return .failure(error)
                }
            }
            for await update in updates where call.more {
                try await send(VarlinkReply(parameters: ["build": WireFormat.build(update)], continues: true))
            }
            // (updates end when the work does)
            switch await work.value {
            case .success(let target): build = target
            case .failure(let error): throw Self.varlinkError(error)
            }
        } else {
            do {
                build = try await engine.run(jobID: jobID, force: force, pins: pins)
            } catch {
                throw Self.varlinkError(error)
            }
        }
        let revdeps = try parameters.optionalBool("build_revdeps") ?? false
        guard call.more else {
            if revdeps {
                // Nobody waits: the dependents run once the build succeeds.
                let engine = engine
                let logger = logger
                Task {
                    guard let finished = try? await engine.waitUntilFinished(build.id), finished.state == .successful else { return }
                    do { _ = try await engine.runDependents(of: jobID, force: force) { _ in } } catch {
                        logger.error("dependents not run", metadata: ["job.id": "\(jobID)", "error": "\(error)"])
                    }
                }
            }
            try await send(VarlinkReply(parameters: ["build": WireFormat.build(build)]))
            return
        }
        try await send(VarlinkReply(parameters: ["build": WireFormat.build(build)], continues: true))
        let finished: Build
        do {
            finished = try await engine.waitUntilFinished(build.id)
        } catch {
            throw Self.varlinkError(error)
        }
        if revdeps, finished.state == .successful {
            try await send(VarlinkReply(parameters: ["build": WireFormat.build(finished)], continues: true))
            let (updates, continuation) = AsyncStream<Build>.makeStream()
            let engine = engine
            let work = Task { () -> EngineError? in
                defer { continuation.finish() }
                do throws(EngineError) {
                    _ = try await engine.runDependents(of: jobID, force: force) { continuation.yield($0) }
                    return nil
                } catch {
                    return error
                }
            }
            for await update in updates {
                try await send(VarlinkReply(parameters: ["build": WireFormat.build(update)], continues: true))
            }
            if let error = await work.value { throw Self.varlinkError(error) }
        }
        try await send(VarlinkReply(parameters: ["build": WireFormat.build(finished)]))
    }

    func listBuilds(_ call: VarlinkCall) throws(VarlinkError) -> VarlinkReply {
        let parameters = Parameters(call)
        let job = try parameters.optionalString("job")
        let limit = try parameters.optionalInt("limit") ?? 50
        guard (1...10_000).contains(limit) else { throw .invalidParameter("limit") }
        do {
            let builds = try storage.getJobBuilds(jobID: job, filter: BuildFilter(), order: .descending, limit: Int(limit))
            return VarlinkReply(parameters: ["builds": .array(builds.map(WireFormat.build))])
        } catch {
            throw Self.varlinkError(.storage(error))
        }
    }

    func getBuild(_ call: VarlinkCall) throws(VarlinkError) -> VarlinkReply {
        let id = try Parameters(call).int("id")
        return VarlinkReply(parameters: ["build": WireFormat.build(try existingBuild(id))])
    }

    func getLogs(_ call: VarlinkCall) throws(VarlinkError) -> VarlinkReply {
        let parameters = Parameters(call)
        let id = try parameters.int("build")
        let minLevel = try parameters.optionalInt("min_level")
        _ = try existingBuild(id)
        do {
            let records = try storage.iterLogMessages(LogQuery(buildID: id, minLevel: minLevel.map(Int.init)))
            return VarlinkReply(parameters: ["logs": .array(records.map(WireFormat.log))])
        } catch {
            throw Self.varlinkError(.storage(error))
        }
    }

    func cancelBuild(_ call: VarlinkCall) async throws(VarlinkError) -> VarlinkReply {
        let id = try Parameters(call).int("id")
        do {
            try await engine.cancel(buildID: id)
        } catch {
            throw Self.varlinkError(error)
        }
        return VarlinkReply()
    }

    func deleteBuild(_ call: VarlinkCall) async throws(VarlinkError) -> VarlinkReply {
        let id = try Parameters(call).int("id")
        do {
            try await engine.delete(buildID: id)
        } catch {
            throw Self.varlinkError(error)
        }
        return VarlinkReply()
    }

    func getProgress(_ call: VarlinkCall) throws(VarlinkError) -> VarlinkReply {
        let id = try Parameters(call).int("build")
        _ = try existingBuild(id)
        do {
            return VarlinkReply(parameters: ["groups": .array(try storage.getBuildProgressInfo(id).map(WireFormat.progress))])
        } catch {
            throw Self.varlinkError(.storage(error))
        }
    }

    /// io.jobcontrol.Build: the calls a running build makes with its token.
    func buildHelper(_ call: VarlinkCall) async throws(VarlinkError) -> VarlinkReply {
        let parameters = Parameters(call)
        let token = try parameters.string("token")
        do {
            switch call.methodName {
            case "ReportProgress":
                let group = try ProgressGroup(name: try parameters.optionalString("group") ?? "")
                let report = try ProgressReport(
                    group: group, current: try parameters.int("current"), total: try parameters.int("total"),
                    statusLine: try parameters.optionalString("status"))
                _ = try await engine.reportProgress(token: token, report)
            case "Log":
                let level = try parameters.optionalInt("level").map { Int($0) } ?? LogLevel.info.rawValue
                guard let logLevel = LogLevel(rawValue: level) else { throw VarlinkError.invalidParameter("level") }
                try await engine.log(token: token, level: logLevel, message: try parameters.string("message"))
            case "SetRetval":
                guard let value = call.parameters["value"] else { throw VarlinkError.invalidParameter("value") }
                try await engine.setRetval(token: token, value)
            case "Skip":
                try await engine.skip(token: token, reason: try parameters.optionalString("reason") ?? "")
            default:
                throw VarlinkError.methodNotFound(call.method)
            }
        } catch let error as VarlinkError {
            throw error
        } catch let error as BuildHelperError {
            throw VarlinkError("\(Interfaces.build).InvalidToken", message: error.description)
        } catch let error as StorageError {
            if error.code == .invalidArgument { throw VarlinkError("org.varlink.service.InvalidParameter", parameters: ["parameter": "group"], message: error.message) }
            throw Self.varlinkError(.storage(error))
        } catch {
            throw VarlinkError("\(Interfaces.manager).StorageFailed", message: "\(error)")
        }
        return VarlinkReply()
    }

    func status() async -> VarlinkReply {
        let config = await engine.config
        let counts = engine.pool.counts
        var parameters: [String: JSONValue] = [
            "version": .string(Self.version),
            "pid": .int(Int64(getpid())),
            "started": WireFormat.timestamp(startTime),
            "storage": .string(config.storage),
            "jobs": .int(Int64(config.jobs.count)),
            "workers": .int(Int64(config.workers)),
            "running": .int(Int64(counts.running)),
            "queued": .int(Int64(counts.queued)),
        ]
        if let file = config.file { parameters["config_file"] = .string(file) }
        if let reload = reloader.lastStatus {
            parameters["last_reload"] = .string(reload.summary)
            parameters["last_reload_ok"] = .bool(reload.succeeded)
            parameters["last_reload_time"] = WireFormat.timestamp(reload.time)
        }
        return VarlinkReply(parameters: parameters)
    }

    func prune(_ call: VarlinkCall) async throws(VarlinkError) -> VarlinkReply {
        let dryRun = try Parameters(call).optionalBool("dry_run") ?? false
        let config = await engine.config
        let report: PruneReport
        do {
            report = try Pruner.run(config: config, storage: storage, dryRun: dryRun)
        } catch {
            throw Self.varlinkError(.storage(error))
        }
        if !dryRun, report.logRecords > 0 || report.buildCount > 0 {
            logger.info("pruned on request", metadata: ["log.records": "\(report.logRecords)", "builds": "\(report.buildCount)"])
        }
        return VarlinkReply(parameters: WireFormat.prune(report, dryRun: dryRun))
    }

    func reload() async throws(VarlinkError) -> VarlinkReply {
        let status = await reloader.reload()
        if let errors = status.errors {
            throw VarlinkError(
                "\(Interfaces.manager).ConfigInvalid",
                parameters: ["errors": .array(errors.diagnostics.map { .string($0.description) })],
                message: "the new configuration has \(errors.diagnostics.count) problems; the previous one keeps running")
        }
        let jobs = await engine.config.jobs.count
        return VarlinkReply(parameters: [
            "jobs": .int(Int64(jobs)), "needs_restart": .array(status.needsRestart.map { .string($0) }),
        ])
    }

    // MARK: - Helpers

    func existingBuild(_ id: Int64) throws(VarlinkError) -> Build {
        do {
            guard let build = try storage.getBuild(id) else { throw EngineError.noSuchBuild(id) }
            return build
        } catch let error as StorageError {
            throw Self.varlinkError(.storage(error))
        } catch {
            throw Self.varlinkError(error as? EngineError ?? .noSuchBuild(id))
        }
    }

    static func varlinkError(_ error: EngineError) -> VarlinkError {
        let manager = Interfaces.manager
        switch error {
        case .noSuchJob(let job):
            return VarlinkError("\(manager).NoSuchJob", parameters: ["job": .string(job)], message: error.description)
        case .jobDisabled(let job):
            return VarlinkError("\(manager).JobDisabled", parameters: ["job": .string(job)], message: error.description)
        case .jobProtected(let job):
            return VarlinkError("\(manager).JobProtected", parameters: ["job": .string(job)], message: error.description)
        case .noSuchBuild(let id):
            return VarlinkError("\(manager).NoSuchBuild", parameters: ["id": .int(id)], message: error.description)
        case .buildNotRunning(let id):
            return VarlinkError("\(manager).BuildNotRunning", parameters: ["id": .int(id)], message: error.description)
        case .dependencyNotBuilt(let job, let dependency):
            return VarlinkError(
                "\(manager).DependencyNotBuilt", parameters: ["job": .string(job), "dependency": .string(dependency)],
                message: error.description)
        case .buildRunning(let id):
            return VarlinkError("\(manager).BuildRunning", parameters: ["id": .int(id)], message: error.description)
        case .cleanupFailed(let build, _):
            return VarlinkError("\(manager).CleanupFailed", parameters: ["id": .int(build)], message: error.description)
        case .dependencyFailed(let job, let dependency, let build):
            return VarlinkError(
                "\(manager).DependencyFailed",
                parameters: ["job": .string(job), "dependency": .string(dependency), "build": .int(build)],
                message: error.description)
        case .badPin(let job, let dependency, _):
            return VarlinkError(
                "\(manager).BadPin", parameters: ["job": .string(job), "dependency": .string(dependency)], message: error.description)
        case .storage:
            return VarlinkError("\(manager).StorageFailed", message: error.description)
        }
    }
}
