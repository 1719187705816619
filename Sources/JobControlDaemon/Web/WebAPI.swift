import Dispatch
import FoundationEssentials
import Glibc
import JobControl
import JobControlProtocol
import NIOHTTP1

/// `/api/v1`: io.jobcontrol.Manager's methods over HTTP (``OpenAPIDocument`` describes them).
extension WebApp {
    /// The Manager's methods with their parameters' types, read from its interface description.
    static let methods: [String: [VarlinkIDL.Field]] = {
        guard let idl = try? VarlinkIDL(parsing: Interfaces.managerDescription) else { return [:] }
        return Dictionary(uniqueKeysWithValues: idl.methods.map { ($0.name, $0.input) })
    }()

    func api(_ request: WebRequest, caller: WebCaller) async -> WebResponse {
        let segments = Array(request.segments.dropFirst())
        guard segments.first == "v1", segments.count >= 2 else {
            return apiError(VarlinkError("NotFound", message: "the API is under /api/v1"), status: .notFound)
        }
        let name = segments[1]
        if segments.count == 2, name == "openapi.json" {
            guard request.method == .GET || request.method == .HEAD else {
                var response = apiError(
                    VarlinkError("MethodNotAllowed", message: "the OpenAPI document is read with GET"),
                    status: .methodNotAllowed)
                response.headers.append(("Allow", "GET, HEAD"))
                return response
            }
            return .json(OpenAPIDocument.make(version: ControlService.version))
        }
        if segments.count == 3, name == "events", segments[2] == "running",
            request.method == .GET || request.method == .HEAD
        {
            guard caller.may(.read) else { return unauthorized(caller, needs: .read) }
            return runningEvents()
        }
        guard segments.count == 2, let fields = Self.methods[name] else {
            return apiError(.methodNotFound("\(Interfaces.manager).\(name)"), status: .notFound)
        }
        let required = ControlService.requiredLevel[name] ?? .admin
        guard caller.may(required) else { return unauthorized(caller, needs: required) }
        let parameters: [String: JSONValue]
        switch request.method {
        case .POST:
            if let session = caller.session, !csrfValid(request, session: session) {
                return apiError(
                    VarlinkError(
                        "\(Interfaces.manager).AccessDenied",
                        message: "a request authenticated by the session cookie needs its X-CSRF-Token header"),
                    status: .forbidden)
            }
            if request.body.allSatisfy({ $0 == 32 || $0 == 10 || $0 == 13 || $0 == 9 }) {
                parameters = [:]
            } else {
                guard case .object(let object)? = try? JSONValue.parse(String(decoding: request.body, as: UTF8.self))
                else {
                    return apiError(
                        .invalidMessage("the body must be a JSON object of the method's parameters"),
                        status: .badRequest)
                }
                parameters = object
            }
        case .GET, .HEAD:
            guard required == .read else {
                var response = apiError(
                    VarlinkError("MethodNotAllowed", message: "\(name) changes something: use POST"),
                    status: .methodNotAllowed)
                response.headers.append(("Allow", "POST"))
                return response
            }
            do {
                parameters = try Self.queryParameters(request.query, fields: fields)
            } catch {
                return apiError(error, status: .badRequest)
            }
        default:
            var response = apiError(
                VarlinkError("MethodNotAllowed", message: "use GET or POST"), status: .methodNotAllowed)
            response.headers.append(("Allow", required == .read ? "GET, HEAD, POST" : "POST"))
            return response
        }
        if required > .read {
            logger.notice(
                "API call",
                metadata: ["method": "\(name)", "by": "\(caller.who)", "parameters": "\(redacted(parameters))"])
        }
        // A stream about a build that does not exist is a 404 before it starts, as the same
        // call without `follow=1` is (not a 200 with a `failure` event in it).
        if request.wantsEvents, let build = parameters["build"] {
            do {
                _ = try await call("GetBuild", ["id": build])
            } catch {
                return apiError(error, status: Self.status(of: error))
            }
        }
        if request.wantsEvents, name == "GetLogs" {
            // A reconnecting EventSource says what it has: go on from there, not from the start.
            var parameters = parameters
            if let last = request.headers.first(name: "Last-Event-ID").flatMap({ Int64($0) }) {
                parameters["after_id"] = .int(last)
            }
            return followLogs(parameters)
        }
        if request.wantsEvents, OpenAPIDocument.streaming.contains(name) {
            let call = VarlinkCall(method: "\(Interfaces.manager).\(name)", parameters: parameters, more: true)
            let service = service
            return .events { write in
                do {
                    try await ControlService.$followInterval.withValue(.milliseconds(500)) {
                        try await service.dispatch(call, peer: nil) { reply in
                            try await write("event: reply\ndata: \(JSONValue.object(reply.parameters).jsonText())\n\n")
                        }
                    }
                    try await write("event: end\ndata: {}\n\n")
                } catch let error as VarlinkError {
                    try await write("event: failure\ndata: \(Self.errorBody(error).jsonText())\n\n")
                }
            }
        }
        do {
            return .json(.object(try await call(name, parameters)))
        } catch {
            return apiError(error, status: Self.status(of: error))
        }
    }

    /// `GetLogs` as Server-Sent Events: the log up to now read by this client, then what the
    /// build's shared feed (``LogFanout``) hands out, each as a `reply` event with the records
    /// as GetLogs returns them; `end` when the build has ended and everything is sent.
    func followLogs(_ parameters: [String: JSONValue]) -> WebResponse {
        let build = parameters["build"]?.intValue ?? 0
        let minLevel = parameters["min_level"]?.intValue ?? 0
        return .events { write in
            var backlog = parameters
            backlog["limit"] = nil
            do {
                var last = parameters["after_id"]?.intValue ?? 0
                // What is stored now, in pages; then once more after subscribing (see LogFanout).
                func catchUp() async throws {
                    while true {
                        backlog["after_id"] = .int(last)
                        let reply = try await self.call("GetLogs", backlog)
                        let logs = reply["logs"]?.arrayValue ?? []
                        let before = last
                        if !logs.isEmpty {
                            last = logs.last?["id"]?.intValue ?? last
                            try await write(
                                "id: \(last)\nevent: reply\ndata: \(JSONValue.object(["logs": .array(logs)]).jsonText())\n\n"
                            )
                        }
                        // More pages follow only while each one moves on.
                        guard reply["next_after_id"]?.intValue != nil, last > before else { return }
                    }
                }
                try await catchUp()
                let events = self.fanout.subscribe(build: build, after: last)
                try await catchUp()
                for await event in events {
                    switch event {
                    case .records(let records):
                        let fresh = records.filter { $0.id > last && Int64($0.level) >= minLevel }
                        last = max(last, records.last?.id ?? last)
                        guard !fresh.isEmpty else { continue }
                        let logs = JSONValue.array(fresh.map(WireFormat.log))
                        try await write(
                            "id: \(last)\nevent: reply\ndata: \(JSONValue.object(["logs": logs]).jsonText())\n\n")
                    case .finished:
                        try await catchUp()
                        try await write("event: end\ndata: {}\n\n")
                        return
                    }
                }
                // The stream ended without the build ending: this client fell too far behind.
            } catch let error as VarlinkError {
                try await write("event: failure\ndata: \(Self.errorBody(error).jsonText())\n\n")
            }
        }
    }

    /// Parameter values that are secret are not logged.
    func redacted(_ parameters: [String: JSONValue]) -> String {
        var shown = parameters
        if shown["parameters"] != nil { shown["parameters"] = "(not logged)" }
        if shown["dependency_parameters"] != nil { shown["dependency_parameters"] = "(not logged)" }
        return JSONValue.object(shown).jsonText()
    }

    /// Query values typed by the method's fields (`?build=3&min_level=30`).
    static func queryParameters(_ query: [String: String], fields: [VarlinkIDL.Field]) throws(VarlinkError)
        -> [String: JSONValue]
    {
        var parameters: [String: JSONValue] = [:]
        for field in fields {
            guard let text = query[field.name] else { continue }
            var type = field.type
            if case .optional(let inner) = type { type = inner }
            switch type {
            case .int:
                guard let value = Int64(text) else { throw .invalidParameter(field.name) }
                parameters[field.name] = .int(value)
            case .float:
                guard let value = Double(text) else { throw .invalidParameter(field.name) }
                parameters[field.name] = .double(value)
            case .bool:
                switch text {
                case "true", "1": parameters[field.name] = true
                case "false", "0": parameters[field.name] = false
                default: throw .invalidParameter(field.name)
                }
            case .string, .enumeration: parameters[field.name] = .string(text)
            default: throw .invalidParameter(field.name)
            }
        }
        return parameters
    }

    /// 401 with `WWW-Authenticate` for a client that gave no credentials (anonymous), 403 for
    /// one whose token or session has too little.
    func unauthorized(_ caller: WebCaller, needs level: AccessPolicy.Level) -> WebResponse {
        let anonymous = caller.level == nil || caller.who == "anonymous"
        let error = VarlinkError(
            "\(Interfaces.manager).AccessDenied", parameters: ["required": .string(level.description)],
            message: anonymous
                ? "a token with '\(level)' access is needed (Authorization: Bearer TOKEN)"
                : "\(caller.who) has '\(caller.level?.description ?? "no")' access; this needs '\(level)'")
        var response = apiError(error, status: anonymous ? .unauthorized : .forbidden)
        if anonymous { response.headers.append(("WWW-Authenticate", "Bearer")) }
        return response
    }

    func apiError(_ error: VarlinkError, status: HTTPResponseStatus) -> WebResponse {
        .json(Self.errorBody(error), status: status)
    }

    static func errorBody(_ error: VarlinkError) -> JSONValue {
        var parameters = error.parameters
        parameters["message"] = nil
        return .object([
            "error": .string(error.name), "message": .string(error.message ?? error.description),
            "parameters": .object(parameters),
        ])
    }

    /// The HTTP status that says what a Varlink error means.
    static func status(of error: VarlinkError) -> HTTPResponseStatus {
        switch error.name.split(separator: ".").last ?? "" {
        case "NoSuchJob", "NoSuchBuild", "NoSuchNotification", "NoSuchChannel", "MethodNotFound", "InterfaceNotFound":
            return .notFound
        case "AccessDenied", "PermissionDenied": return .forbidden
        case "BuildRunning", "BuildInUse", "BuildNotRunning", "JobDisabled", "JobProtected", "DependencyNotBuilt",
            "DependencyFailed",
            "NotScheduled", "CleanupFailed":
            return .conflict
        case "ShuttingDown", "StorageFailed", "ParameterUnavailable": return .serviceUnavailable
        default: return .badRequest
        }
    }

    /// `running` events every second: the running builds and their overall progress (the
    /// overview's live progress bars).
    func runningEvents() -> WebResponse {
        .events { write in
            var last = ""
            var quiet = 0
            while !Task.isCancelled {
                let running = try await self.runningBuilds()
                let text = JSONValue.object(["builds": .array(running)]).jsonText()
                if text != last || quiet >= 15 {
                    try await write("event: running\ndata: \(text)\n\n")
                    last = text
                    quiet = 0
                } else {
                    quiet += 1
                }
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Running builds with `current`/`total` of their top progress group, computed at most
    /// once a second whatever the number of clients (``runningCache``).
    func runningBuilds() async throws(VarlinkError) -> [JSONValue] {
        let now = ContinuousClock.now
        if let cached = runningCache.withLock({ $0 }), now - cached.at < .milliseconds(900) { return cached.builds }
        let builds = try await readRunningBuilds()
        runningCache.withLock { $0 = (now, builds) }
        return builds
    }

    func readRunningBuilds() async throws(VarlinkError) -> [JSONValue] {
        let builds =
            try await call("ListBuilds", ["started": true, "finished": false, "limit": 200])["builds"]?.arrayValue ?? []
        var values: [JSONValue] = []
        for build in builds {
            guard let id = build["id"]?.intValue else { continue }
            let groups = (try? await call("GetProgress", ["build": .int(id)])["groups"]?.arrayValue) ?? []
            let top = Pages.topProgress(groups)
            values.append(
                .object([
                    "id": .int(id), "job_id": build["job_id"] ?? .null, "start_time": build["start_time"] ?? .null,
                    "current": top.map { .int($0.current) } ?? .null, "total": top.map { .int($0.total) } ?? .null,
                ]))
        }
        return values
    }
}
