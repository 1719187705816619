import Dispatch
import FoundationEssentials
import Glibc
import JobControl
import JobControlProtocol

/// The dashboard's buttons: form POSTs that run, cancel, suspend, resume and re-send. Each needs
/// `run`, a login session's CSRF token (or a bearer token, which a browser never sends by
/// itself), and is logged with who did it.
extension WebApp {
    /// The addresses answered with GET only: the pages (``page(_:caller:)``), `/metrics` and
    /// `/static/…`.
    static func isPage(_ segments: [String]) -> Bool {
        switch (segments.first, segments.count) {
        case (nil, _), ("jobs", 1), ("jobs", 2), ("builds", 2), ("calendar", 1), ("metrics", 1): return true
        case ("static", _): return true
        default: return false
        }
    }

    func action(_ request: WebRequest, caller: WebCaller) async -> WebResponse {
        let segments = request.segments
        guard segments.count == 3 else {
            // A page that is there to be read: the method is wrong, not the address.
            if Self.isPage(segments) {
                var response = WebResponse.text("this page is read with GET", status: .methodNotAllowed)
                response.headers.append(("Allow", "GET, HEAD"))
                return response
            }
            return .html(Pages.notFound(request.path), status: .notFound)
        }
        let (kind, id, verb) = (segments[0], segments[1], segments[2])
        guard caller.level != nil else {
            return .html(
                Pages.message(title: "Log in first", text: "Actions need a token with 'run' access.", caller: caller),
                status: .unauthorized, headers: [("WWW-Authenticate", "Bearer")])
        }
        guard caller.may(.run) else {
            return .html(
                Pages.message(
                    title: "Not allowed",
                    text: "\(caller.who) has '\(caller.level!)' access; this action needs 'run'.", caller: caller),
                status: .forbidden)
        }
        if let session = caller.session, !csrfValid(request, session: session) {
            logger.warning(
                "web action refused: no valid CSRF token", metadata: ["path": "\(request.path)", "by": "\(caller.who)"])
            return csrfRefused()
        }
        let back: String
        let method: String
        var parameters: [String: JSONValue] = [:]
        switch (kind, verb) {
        case ("jobs", "run"):
            return await run(job: id, form: request.form, caller: caller)
        case ("jobs", "suspend"), ("jobs", "resume"):
            method = verb == "suspend" ? "Suspend" : "Resume"
            parameters["job"] = .string(id)
            back = "/jobs/\(WebRequest.encode(id))"
        case ("builds", "cancel"):
            guard let number = Int64(id) else { return .html(Pages.notFound(request.path), status: .notFound) }
            method = "CancelBuild"
            parameters["id"] = .int(number)
            back = "/builds/\(number)"
        case ("notifications", "resend"):
            guard let number = Int64(id) else { return .html(Pages.notFound(request.path), status: .notFound) }
            method = "ResendNotification"
            parameters["id"] = .int(number)
            back = "/"
        default:
            return .html(Pages.notFound(request.path), status: .notFound)
        }
        logger.notice(
            "web action", metadata: ["action": "\(method)", "target": "\(id.escapingControls)", "by": "\(caller.who)"])
        do {
            _ = try await call(method, parameters)
            return .redirect(back)
        } catch {
            return .html(
                Pages.message(title: "\(method) failed", text: error.message ?? error.description, caller: caller),
                status: Self.status(of: error))
        }
    }

    /// The run button: the options of `jobctl run` (force, dependencies, dependents,
    /// parameters as NAME=VALUE lines). A run that builds dependencies goes on after the answer,
    /// which goes to the job's page; a plain run goes to its build's page.
    func run(job: String, form: [String: String], caller: WebCaller) async -> WebResponse {
        var parameters: [String: JSONValue] = ["job": .string(job)]
        if form["force"] == "on" { parameters["force"] = true }
        let withDependencies = form["build_deps"] == "on"
        if withDependencies { parameters["build_deps"] = true }
        if form["build_revdeps"] == "on" { parameters["build_revdeps"] = true }
        var values: [String: JSONValue] = [:]
        for line in (form["parameters"] ?? "").split(whereSeparator: \.isNewline) {
            let text = line.trimmingBlanks()
            guard !text.isEmpty else { continue }
            guard let equals = text.firstIndex(of: "=") else {
                return .html(
                    Pages.message(
                        title: "Run refused", text: "A parameter is NAME=VALUE, one per line.", caller: caller),
                    status: .badRequest)
            }
            values[String(text[..<equals])] = .string(String(text[text.index(after: equals)...]))
        }
        if !values.isEmpty { parameters["parameters"] = .object(values) }
        logger.notice(
            "web action",
            metadata: [
                "action": "RunJob", "target": "\(job.escapingControls)", "by": "\(caller.who)",
                "options": "\(form.keys.filter { ["force", "build_deps", "build_revdeps"].contains($0) }.sorted())",
            ])
        let call = VarlinkCall(
            method: "\(Interfaces.manager).RunJob", parameters: parameters, more: withDependencies)
        // The first reply (the first build created, or an error) answers the browser; the rest of
        // a run with dependencies goes on in the background.
        let (replies, continuation) = AsyncStream<Result<JSONValue, VarlinkError>>.makeStream()
        let service = service
        let logger = logger
        Task {
            do {
                try await service.dispatch(call, peer: nil) { reply in
                    continuation.yield(.success(reply.parameters["build"] ?? .null))
                }
            } catch let error as VarlinkError {
                continuation.yield(.failure(error))
            } catch {
                logger.warning("a run from the dashboard failed", metadata: ["job": "\(job)", "error": "\(error)"])
            }
            continuation.finish()
        }
        for await reply in replies {
            switch reply {
            case .failure(let error):
                return .html(
                    Pages.message(title: "Run refused", text: error.message ?? error.description, caller: caller),
                    status: Self.status(of: error))
            case .success(let build):
                if !withDependencies, let id = build["id"]?.intValue { return .redirect("/builds/\(id)") }
                return .redirect("/jobs/\(WebRequest.encode(job))")
            }
        }
        return .redirect("/jobs/\(WebRequest.encode(job))")
    }
}
