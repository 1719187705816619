import Dispatch
import FoundationEssentials
import Glibc
import JobControl
import Synchronization

/// Who is asking, as the web routes see it: the access level, a name for the audit log, and the
/// browser session (with its CSRF token) when the level came from a login cookie.
struct WebCaller: Sendable {
    var level: AccessPolicy.Level?
    /// `token 2`, `token alice`, or `anonymous` (in the log lines of actions).
    var who: String
    var session: WebSessions.Session?

    func may(_ required: AccessPolicy.Level) -> Bool { level.map { $0 >= required } ?? false }
}

/// Browser sessions: a login with a token sets an `HttpOnly`, `SameSite=Strict` cookie naming
/// one of these. Each session has its own CSRF token, which every form POST and every
/// cookie-authenticated API call must carry. State: the sessions, behind one `Mutex`; they
/// live 12 hours, at most 50 per token and 1,000 in all are kept (the oldest goes first).
final class WebSessions: Sendable {
    static let cookie = "jobcontrol_session"
    static let lifetime: TimeInterval = 12 * 3600
    static let limit = 1000
    /// Sessions one token may have at once.
    static let perToken = 50

    struct Session: Sendable {
        var id: String
        var level: AccessPolicy.Level
        var who: String
        var csrf: String
        var expires: Date
        /// The token the login gave (checked again on every request: a rotated token ends it).
        var token = ""
        /// A browser login (a cookie names it); false for a Unix-socket peer's CSRF token.
        var cookie = true
    }

    private let sessions = Mutex<[String: Session]>([:])

    func create(level: AccessPolicy.Level, who: String, token: String, now: Date = Date()) -> Session {
        let session = Session(
            id: randomToken(), level: level, who: who, csrf: randomToken(),
            expires: now.addingTimeInterval(Self.lifetime), token: token)
        sessions.withLock { sessions in
            sessions = sessions.filter { $0.value.expires > now }
            // A token's holder who logs in again and again pushes out its own oldest sessions,
            // not other tokens' (at most ``perToken`` each).
            let own = sessions.values.filter { $0.cookie && $0.token == token }
            if own.count >= Self.perToken, let oldest = own.min(by: { $0.expires < $1.expires }) {
                sessions[oldest.id] = nil
            }
            if sessions.count >= Self.limit, let oldest = sessions.values.min(by: { $0.expires < $1.expires }) {
                sessions[oldest.id] = nil
            }
            sessions[session.id] = session
        }
        return session
    }

    /// The CSRF token of a Unix-socket client (by user id): its pages' forms must carry it, as a
    /// login's do, because a browser behind a proxy on that socket has the proxy's credentials.
    func peerSession(_ peer: AccessPolicy.Peer, level: AccessPolicy.Level, now: Date = Date()) -> Session {
        let key = "peer:\(peer.uid)"
        return sessions.withLock { sessions in
            if var session = sessions[key], session.expires > now {
                session.level = level
                return session
            }
            let session = Session(
                id: key, level: level, who: peer.description, csrf: randomToken(),
                expires: now.addingTimeInterval(Self.lifetime), cookie: false)
            sessions[key] = session
            return session
        }
    }

    func session(_ id: String?, now: Date = Date()) -> Session? {
        guard let id, !id.hasPrefix("peer:") else { return nil }
        return sessions.withLock { sessions in
            guard let session = sessions[id] else { return nil }
            guard session.expires > now else {
                sessions[id] = nil
                return nil
            }
            return session
        }
    }

    func remove(_ id: String) { _ = sessions.withLock { $0.removeValue(forKey: id) } }

    /// `a == b` in time independent of where they differ.
    static func sameToken(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count, !x.isEmpty else { return false }
        var difference: UInt8 = 0
        for (p, q) in zip(x, y) { difference |= p ^ q }
        return difference == 0
    }
}
