import Dispatch
import FoundationEssentials
import Glibc
import JobControl
import JobControlProtocol

/// io.jobcontrol.Manager: jobs and running them.
extension ControlService {
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
        object.merge(await scheduleFields(of: job)) { _, new in new }
        return .object(object)
    }

    func getJob(_ call: VarlinkCall) async throws(VarlinkError) -> VarlinkReply {
        let id = try Parameters(call).string("job")
        guard let job = await engine.config.job(id) else { throw Self.varlinkError(.noSuchJob(id)) }
        return VarlinkReply(parameters: ["job": try await jobWithStatus(job)])
    }

    /// `parameters: {name: value}`: strings, integers and booleans only.
    static func parameterValues(_ value: JSONValue?, name: String) throws(VarlinkError) -> [String: JSONValue] {
        switch value {
        case nil, .null?: return [:]
        case .object(let object)?:
            for (key, value) in object {
                switch value {
                case .string, .int, .bool, .double: continue
                default:
                    throw VarlinkError(
                        "org.varlink.service.InvalidParameter", parameters: ["parameter": .string(name)],
                        message:
                            "parameter '\(key)' is \(value.jsonText().prefix(40)): a parameter's value is a string, a number or a boolean"
                    )
                }
            }
            return object
        default:
            throw VarlinkError(
                "org.varlink.service.InvalidParameter", parameters: ["parameter": .string(name)],
                message: "'\(name)' takes an object of parameter names and values")
        }
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
        let given = try Self.parameterValues(call.parameters["parameters"], name: "parameters")
        var dependencyParameters: [String: [String: JSONValue]] = [:]
        switch call.parameters["dependency_parameters"] {
        case nil, .null?: break
        case .object(let object)?:
            for (dependency, values) in object {
                dependencyParameters[dependency] = try Self.parameterValues(values, name: "dependency_parameters")
            }
        default: throw VarlinkError.invalidParameter("dependency_parameters")
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
                        try await engine.runBuildingDependencies(
                            jobID: jobID, force: force, pins: pins, parameters: given,
                            dependencyParameters: dependencyParameters
                        ) {
                            continuation.yield($0)
                        })
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
            guard dependencyParameters.isEmpty else { throw VarlinkError.invalidParameter("dependency_parameters") }
            do {
                build = try await engine.run(jobID: jobID, force: force, pins: pins, parameters: given)
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
                    guard let finished = try? await engine.waitUntilFinished(build.id), finished.state == .successful
                    else { return }
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

}
