import Dispatch
import FoundationEssentials
import Glibc
import JobControl
import JobControlProtocol

/// io.jobcontrol.Manager: builds, their logs and progress; io.jobcontrol.Build: a running build's own calls.
extension ControlService {
    func listBuilds(_ call: VarlinkCall) async throws(VarlinkError) -> VarlinkReply {
        let parameters = Parameters(call)
        let job = try parameters.optionalString("job")
        let limit = try parameters.optionalInt("limit") ?? 50
        guard (1...10_000).contains(limit) else { throw .invalidParameter("limit") }
        let filter = BuildFilter(
            started: try parameters.optionalBool("started"), finished: try parameters.optionalBool("finished"),
            success: try parameters.optionalBool("success"), skipped: try parameters.optionalBool("skipped"))
        let order: BuildOrder
        switch try parameters.optionalString("order") {
        case nil, "desc"?: order = .descending
        case "asc"?: order = .ascending
        default: throw .invalidParameter("order")
        }
        let storage = storage
        return try await LongReads.run { () throws(VarlinkError) -> VarlinkReply in
            do throws(StorageError) {
                let builds = try storage.getJobBuilds(jobID: job, filter: filter, order: order, limit: Int(limit))
                return VarlinkReply(parameters: ["builds": .array(builds.map(WireFormat.build))])
            } catch {
                throw Self.varlinkError(.storage(error))
            }
        }
    }

    func getBuild(_ call: VarlinkCall) throws(VarlinkError) -> VarlinkReply {
        let id = try Parameters(call).int("id")
        return VarlinkReply(parameters: ["build": WireFormat.build(try existingBuild(id))])
    }

    /// A build's log; with `more`, followed: new records as they are stored, until the build has
    /// ended (the last reply has `continues` false). Every reply stays under
    /// ``LogPager/replyBudget`` however long the records are: without `more`, a reply that had
    /// to stop early says where to go on (`next_after_id`); with `more`, the rest follows in
    /// further replies.
    func getLogs(_ call: VarlinkCall, send: Send) async throws {
        let parameters = Parameters(call)
        let id = try parameters.int("build")
        let minLevel = try parameters.optionalInt("min_level").map(Int.init)
        // At least one: a page of none says "go on from where you are", and a client paging by
        // next_after_id would ask again for ever.
        let limit = try parameters.optionalInt("limit").map { Int(clamping: $0) }
        if let limit, limit < 1 { throw VarlinkError.invalidParameter("limit") }
        _ = try existingBuild(id)
        var pager = LogPager(
            storage: storage, buildID: id, minLevel: minLevel, afterID: try parameters.optionalInt("after_id"))
        // Each page is read, and put in its wire form, among the other long reads.
        func page(upTo count: Int? = nil, budget: Int = LogPager.replyBudget) async throws(VarlinkError) -> (
            logs: [JSONValue], more: Bool, bytes: Int
        ) {
            let before = pager
            let (after, page) = try await LongReads.run { () throws(VarlinkError) in
                var pager = before
                do throws(StorageError) {
                    let page = try pager.next(upTo: count, budget: budget)
                    return (pager, (logs: page.records.map(WireFormat.log), more: page.more, bytes: page.bytes))
                } catch {
                    throw Self.varlinkError(.storage(error))
                }
            }
            pager = after
            return page
        }
        guard call.more else {
            // One reply: as much of the log as fits the budget and the limit (all of it, for any
            // log of ordinary size, as before paging existed).
            var logs: [JSONValue] = []
            var remaining = LogPager.replyBudget
            var more = true
            while more, remaining > 0, limit.map({ logs.count < $0 }) ?? true {
                let next = try await page(upTo: limit.map { $0 - logs.count }, budget: remaining)
                if !logs.isEmpty, next.logs.isEmpty { break }
                logs += next.logs
                remaining -= max(next.bytes, 1)
                more = next.more
            }
            var reply: [String: JSONValue] = ["logs": .array(logs)]
            if more, let next = pager.afterID { reply["next_after_id"] = .int(next) }
            try await send(VarlinkReply(parameters: reply))
            return
        }
        try await follow(build: id) { finished throws in
            while true {
                let next = try await page()
                let done = finished && !next.more
                if !next.logs.isEmpty || finished {
                    try await send(VarlinkReply(parameters: ["logs": .array(next.logs)], continues: !done))
                }
                if !next.more { return done }
            }
        }
    }

    /// Calls `step` until it returns true: at once, then whenever the build may have changed
    /// (every ``followInterval`` while it runs), with `finished` true once the build has ended and its last
    /// records are stored. Ends early, without error, when the client hangs up (the send fails).
    func follow(build id: Int64, _ step: (_ finished: Bool) async throws -> Bool) async throws {
        let interval = Self.followInterval
        while true {
            let finished = try existingBuild(id).finished
            if try await step(finished) { return }
            if !finished { try await Task.sleep(for: interval) }
        }
    }

    /// How often a followed build is looked at: 100 ms for the socket (`jobctl logs -f`); the
    /// HTTP listener's event streams set 500 ms (a person watching a page does not see the
    /// difference, and a hundred of them then cost the daemon a fifth as much).
    @TaskLocal static var followInterval: Duration = .milliseconds(100)

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

    /// A build's progress tree; with `more`, watched: the tree again whenever it changes, and a
    /// last reply once the build has ended.
    func getProgress(_ call: VarlinkCall, send: Send) async throws {
        let id = try Parameters(call).int("build")
        _ = try existingBuild(id)
        func tree() throws(VarlinkError) -> JSONValue {
            do {
                return .array(try storage.getBuildProgressInfo(id).map(WireFormat.progress))
            } catch {
                throw Self.varlinkError(.storage(error))
            }
        }
        guard call.more else {
            try await send(VarlinkReply(parameters: ["groups": try tree()]))
            return
        }
        var last: JSONValue?
        try await follow(build: id) { finished throws in
            let current = try tree()
            if current != last || finished {
                try await send(VarlinkReply(parameters: ["groups": current], continues: !finished))
                last = current
            }
            return finished
        }
    }

    /// io.jobcontrol.Build: the calls a running build makes with its token.
    /// A running build's own call. While the storage is away (PostgreSQL restarting, a full
    /// disk) it waits and tries again, as the build's output does, instead of failing the
    /// build's `jobctl log` or `progress` (and with `set -e`, the build): it ends when the
    /// storage is back, the build has ended (its token is gone), or the daemon stops.
    func buildHelper(_ call: VarlinkCall) async throws(VarlinkError) -> VarlinkReply {
        var backoff: Duration = .milliseconds(100)
        while true {
            do {
                return try await buildHelperOnce(call)
            } catch let error as StorageError where error.isTransient && !Task.isCancelled {
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(2))
            } catch let error as StorageError {
                throw Self.varlinkError(.storage(error))
            } catch let error as VarlinkError {
                throw error
            } catch {
                throw VarlinkError("\(Interfaces.manager).StorageFailed", message: "\(error)")
            }
        }
    }

    /// One try of ``buildHelper(_:)``: a transient storage error is thrown as it is.
    private func buildHelperOnce(_ call: VarlinkCall) async throws -> VarlinkReply {
        let parameters = Parameters(call)
        let token = try parameters.string("token")
        do {
            switch call.methodName {
            case "ReportProgress":
                let group: ProgressGroup
                do {
                    group = try ProgressGroup(name: try parameters.optionalString("group") ?? "")
                } catch let error as StorageError {
                    throw VarlinkError(
                        "org.varlink.service.InvalidParameter", parameters: ["parameter": "group"],
                        message: error.message)
                }
                let (current, total) = (try parameters.int("current"), try parameters.int("total"))
                for (name, value) in [("current", current), ("total", total)] where value < 0 {
                    throw VarlinkError(
                        "org.varlink.service.InvalidParameter", parameters: ["parameter": .string(name)],
                        message: "progress must not be negative (\(name) \(value))")
                }
                let report = try ProgressReport(
                    group: group, current: current, total: total, statusLine: try parameters.optionalString("status"))
                _ = try await engine.reportProgress(token: token, report)
            case "Log":
                let level = try parameters.optionalInt("level").map { Int($0) } ?? LogLevel.info.rawValue
                guard let logLevel = LogLevel(rawValue: level) else { throw VarlinkError.invalidParameter("level") }
                var origin: LogRecord.Origin?
                if let file = try parameters.optionalString("file") {
                    origin = LogRecord.Origin(
                        file: file, line: Int(try parameters.optionalInt("line") ?? 0),
                        function: try parameters.optionalString("function") ?? "?")
                }
                let traceback = call.parameters["traceback"].flatMap { $0 == .null ? nil : $0 }
                if let traceback, case .object = traceback {
                } else if traceback != nil {
                    throw VarlinkError.invalidParameter("traceback")
                }
                try await engine.log(
                    token: token, level: logLevel, message: try parameters.string("message"),
                    logger: try parameters.optionalString("logger") ?? "jobctl", origin: origin,
                    traceback: traceback.map { TracebackInfo(json: $0).json })
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
        } catch BuildHelperError.invalidRetval(let reason) {
            throw VarlinkError(
                "org.varlink.service.InvalidParameter", parameters: ["parameter": "value"],
                message: BuildHelperError.invalidRetval(reason).description)
        } catch let error as BuildHelperError {
            throw VarlinkError("\(Interfaces.build).InvalidToken", message: error.description)
        } catch let error as StorageError {
            if error.code == .invalidArgument {
                throw VarlinkError(
                    "org.varlink.service.InvalidParameter", parameters: ["parameter": "group"], message: error.message)
            }
            throw error
        } catch {
            throw VarlinkError("\(Interfaces.manager).StorageFailed", message: "\(error)")
        }
        return VarlinkReply()
    }

}
