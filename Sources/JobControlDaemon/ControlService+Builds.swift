import Foundation
import JobControl
import JobControlProtocol

/// io.jobcontrol.Manager: builds, their logs and progress; io.jobcontrol.Build: a running build's own calls.
extension ControlService {
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

}
