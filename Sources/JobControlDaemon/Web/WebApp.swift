import Dispatch
import FoundationEssentials
import Glibc
import JobControl
import JobControlProtocol
import Logging
import NIOHTTP1
import Synchronization

/// Everything the HTTP listener serves: `/metrics`, the JSON API under `/api/v1`, the
/// dashboard's pages and their actions, and the embedded assets. Every page and API answer is
/// made from the same ``ControlService`` methods the Varlink socket answers, so `jobctl`, the
/// API and the pages tell the same story. Holds only immutable references and the
/// self-locking ``WebSessions``.
final class WebApp: Sendable {
    let settings: HTTPSettings
    let service: ControlService
    let sessions = WebSessions()
    /// One storage reader per followed build, whatever the number of clients following it.
    let fanout: LogFanout
    /// The running builds of `/api/v1/events/running`, when last read (shared by its clients).
    let runningCache = Mutex<(at: ContinuousClock.Instant, builds: [JSONValue])?>(nil)
    let logger: Logger

    init(settings: HTTPSettings, service: ControlService, logger: Logger) {
        self.settings = settings
        self.service = service
        self.fanout = LogFanout(storage: service.storage)
        self.logger = logger
    }

    var engine: BuildEngine { service.engine }

    /// Headers on every answer: no caching of private data, no framing, no sniffing, and only
    /// the daemon's own scripts and styles (nothing is loaded from elsewhere).
    static let securityHeaders: [(String, String)] = [
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "same-origin"),
        (
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
    ]

    func respond(to request: WebRequest) async -> WebResponse {
        let config = await engine.config
        // Over TCP, with anonymous access: only requests naming this daemon (DNS rebinding).
        if request.peer == nil, let http = config.http, !http.allowsHost(request.headers.first(name: "Host")) {
            return .text(
                "this daemon is not reached by that name; add it to http.hosts to allow it", status: .misdirectedRequest
            )
        }
        let caller = caller(of: request, config: config)
        let segments = request.segments
        switch (request.method, segments.first) {
        case (.GET, "metrics"), (.HEAD, "metrics"):
            return await metrics(caller: caller, config: config)
        case (_, "api"):
            return await api(request, caller: caller)
        case (.GET, "static"), (.HEAD, "static"):
            return WebAssets.response(segments.dropFirst().joined(separator: "/"))
        case (.GET, "login"), (.HEAD, "login"):
            return .html(Pages.login(caller: caller, message: nil, next: request.query["next"].flatMap(Self.localPath)))
        case (.POST, "login"):
            return login(request, secrets: config.secrets)
        case (.POST, "logout"):
            guard let session = caller.session, session.cookie else { return .redirect("/") }
            guard csrfValid(request, session: session) else { return csrfRefused() }
            sessions.remove(session.id)
            return .redirect(
                "/", headers: [("Set-Cookie", "\(WebSessions.cookie)=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict")])
        case (.POST, _):
            return await action(request, caller: caller)
        case (.GET, _), (.HEAD, _):
            guard caller.may(.read) else {
                // Back to the very page asked for, its query too (a calendar's day and span).
                let asked = request.path + (request.rawQuery.map { "?" + $0 } ?? "")
                return .redirect("/login?next=\(WebRequest.encode(asked))")
            }
            return await page(request, caller: caller)
        default:
            var response = WebResponse.text("method not allowed", status: .methodNotAllowed)
            response.headers.append(("Allow", "GET, HEAD, POST"))
            return response
        }
    }

    // MARK: - Who is asking

    /// A bearer token first (API clients), then a login session's cookie, then a Unix-socket
    /// client's credentials (its level from `access:`, everything without it, as on the control
    /// socket), else anonymous.
    func caller(of request: WebRequest, config: DaemonConfig) -> WebCaller {
        let secrets = config.secrets
        if let token = HTTPSettings.bearerToken(request.headers.first(name: "Authorization")) {
            let grant = settings.grant(token: token, secrets: secrets)
            return WebCaller(level: grant?.level, who: grant?.name ?? "a wrong token", session: nil)
        }
        if let session = sessions.session(request.cookies[WebSessions.cookie]) {
            // The token the session was opened with must still be configured (a rotated token
            // ends its sessions at the reload), and grants what it grants now.
            guard let grant = settings.grant(token: session.token, secrets: secrets) else {
                sessions.remove(session.id)
                return WebCaller(level: settings.anonymous, who: "anonymous", session: nil)
            }
            var current = session
            current.level = min(session.level, grant.level)
            return WebCaller(level: current.level, who: session.who, session: current)
        }
        // Credentials count for a client on the Unix socket itself, not for one a reverse proxy
        // forwards (every such request would carry the proxy's credentials): those are treated
        // as TCP clients. Without `access:`, only root and the daemon's own user are known.
        if let peer = request.peer, !request.isProxied {
            let level: AccessPolicy.Level?
            if let access = config.access {
                level = access.level(of: peer)
            } else {
                level = peer.uid == 0 || peer.uid == geteuid() ? .admin : nil
            }
            if let level {
                return WebCaller(level: level, who: peer.description, session: sessions.peerSession(peer, level: level))
            }
        }
        return WebCaller(level: settings.anonymous, who: "anonymous", session: nil)
    }

    /// A cookie-authenticated state change must carry the session's CSRF token, as the form
    /// field `csrf` or the header `X-CSRF-Token`; a cross-site request is refused outright.
    /// A Unix-socket client that is not a browser (no `Origin`, no `Sec-Fetch-Site`: curl, a
    /// script) needs no token.
    func csrfValid(_ request: WebRequest, session: WebSessions.Session) -> Bool {
        if request.headers.first(name: "Sec-Fetch-Site") == "cross-site" { return false }
        if !session.cookie && request.headers.first(name: "Origin") == nil
            && request.headers.first(name: "Sec-Fetch-Site") == nil
        {
            return true
        }
        let given = request.headers.first(name: "X-CSRF-Token") ?? request.form["csrf"] ?? ""
        return WebSessions.sameToken(given, session.csrf)
    }

    func csrfRefused() -> WebResponse {
        .html(
            Pages.message(
                title: "Refused",
                text:
                    "This form is stale or did not come from this dashboard (no valid CSRF token). Reload the page and try again."
            ),
            status: .forbidden)
    }

    func login(_ request: WebRequest, secrets: [String: String]) -> WebResponse {
        let form = request.form
        let next = form["next"].flatMap { Self.localPath($0) } ?? "/"
        if request.headers.first(name: "Sec-Fetch-Site") == "cross-site" { return csrfRefused() }
        let token = form["token"] ?? ""
        guard let grant = settings.grant(token: token, secrets: secrets) else {
            logger.warning("web login refused: wrong token")
            return .html(
                Pages.login(
                    caller: WebCaller(level: nil, who: "anonymous"), message: "That token is not configured.",
                    next: next),
                status: .unauthorized, headers: [("WWW-Authenticate", "Bearer")])
        }
        let session = sessions.create(level: grant.level, who: grant.name, token: token)
        logger.notice("web login", metadata: ["by": "\(grant.name)", "level": "\(grant.level)"])
        // Secure when a TLS proxy says the browser came over HTTPS.
        let secure = request.headers.first(name: "X-Forwarded-Proto") == "https" ? "; Secure" : ""
        return .redirect(
            next,
            headers: [("Set-Cookie", "\(WebSessions.cookie)=\(session.id); Path=/; HttpOnly; SameSite=Strict\(secure)")]
        )
    }

    /// `path` when it is a path on this site (`/jobs/a?x=1`), nil for anything a browser could
    /// take elsewhere (`//host`, `/\\host`, a scheme, control characters).
    static func localPath(_ path: String) -> String? {
        guard path.hasPrefix("/"), !path.hasPrefix("//"), !path.contains("\\"),
            !path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        else { return nil }
        return path
    }

    // MARK: - /metrics

    func metrics(caller: WebCaller, config: DaemonConfig) async -> WebResponse {
        guard caller.may(.read) else {
            return WebResponse(
                .unauthorized, type: "text/plain; charset=utf-8",
                "a token with read access is needed (Authorization: Bearer TOKEN)\n",
                headers: [("WWW-Authenticate", "Bearer")])
        }
        // Active schedules only, and nothing read from storage: a scrape costs the scheduler little.
        let nextRuns = await service.scheduler.nextDues().mapValues { Double($0) / 1_000_000 }
        let counts = engine.pool.counts
        let live = MetricsExposition.Live(
            jobs: config.jobs.map(\.id), nextRuns: nextRuns, running: counts.running, queued: counts.queued,
            workers: config.workers)
        return WebResponse(.ok, type: MetricsExposition.contentType, MetricsExposition.render(.shared, live: live))
    }

    // MARK: - Calling the control service

    /// Calls a Manager method as `caller` (whose level has been checked) and returns the last
    /// reply's parameters.
    func call(_ method: String, _ parameters: [String: JSONValue] = [:]) async throws(VarlinkError)
        -> [String: JSONValue]
    {
        let collector = ReplyCollector()
        do {
            try await service.dispatch(
                VarlinkCall(method: "\(Interfaces.manager).\(method)", parameters: parameters), peer: nil
            ) { reply in
                collector.last = reply.parameters
            }
        } catch let error as VarlinkError {
            throw error
        } catch {
            throw VarlinkError("\(Interfaces.manager).Failed", message: "\(error)")
        }
        return collector.last
    }
}

/// The last reply of a call (one task writes, then reads: no sharing).
final class ReplyCollector: @unchecked Sendable {
    // Proof: written by the send closure and read after `dispatch` returns, in the same task.
    var last: [String: JSONValue] = [:]
}
