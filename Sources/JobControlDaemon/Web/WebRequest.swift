import Dispatch
import FoundationEssentials
import Glibc
import JobControl
import NIOHTTP1

/// One HTTP request as the web routes see it: method, decoded path segments, query, headers,
/// cookies and body (at most ``WebRequest/maxBody`` bytes; the server refuses more).
struct WebRequest: Sendable {
    static let maxBody = 1 << 20

    var method: HTTPMethod
    /// The path as sent (`/jobs/a%2Fb`), without the query.
    var path: String
    /// The path's segments, percent-decoded (`["jobs", "a/b"]`).
    var segments: [String]
    var query: [String: String]
    /// The query as sent (`day=2026-12-06&span=week`), if there is one.
    var rawQuery: String?
    var headers: HTTPHeaders
    var body: [UInt8]
    /// Who is at the other end of a Unix-socket connection (nil over TCP).
    var peer: AccessPolicy.Peer?

    init(head: HTTPRequestHead, body: [UInt8] = [], peer: AccessPolicy.Peer? = nil) {
        self.peer = peer
        method = head.method
        let parts = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        path = parts.first.map(String.init) ?? "/"
        segments = path.split(separator: "/").map { Self.decode(String($0)) }
        query = parts.count > 1 ? Self.form(String(parts[1])) : [:]
        rawQuery = parts.count > 1 ? String(parts[1]) : nil
        headers = head.headers
        self.body = body
    }

    /// `application/x-www-form-urlencoded` fields of the body (a POST from a page's form).
    var form: [String: String] { Self.form(String(decoding: body, as: UTF8.self)) }

    /// The request's cookies (`Cookie: a=1; b=2`).
    var cookies: [String: String] {
        var cookies: [String: String] = [:]
        for header in headers[canonicalForm: "Cookie"] {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                cookies[parts[0].trimmingBlanks()] = parts[1].trimmingBlanks()
            }
        }
        return cookies
    }

    /// Forwarded by a reverse proxy (it says so in a header every common proxy can send).
    var isProxied: Bool {
        ["Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-IP", "Via"].contains {
            headers.first(name: $0) != nil
        }
    }

    /// The client asked for Server-Sent Events (`Accept: text/event-stream`) or `follow=1`.
    var wantsEvents: Bool {
        headers.first(name: "Accept")?.contains("text/event-stream") == true || query["follow"] == "1"
    }

    /// `a=1&b=x+y` as a dictionary (the last of repeated names wins).
    static func form(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decode(String(parts[0]).replacing("+", with: " "))
            let value = parts.count > 1 ? decode(String(parts[1]).replacing("+", with: " ")) : ""
            fields[name] = value
        }
        return fields
    }

    static func decode(_ text: String) -> String { text.percentDecoded ?? text }

    /// `text` for a path segment or a query value.
    static func encode(_ text: String) -> String {
        text.percentEncoded
    }
}

/// An answer: a whole body, or a stream of Server-Sent Events written by `events`.
struct WebResponse: Sendable {
    /// Writes one chunk of a streamed body; throws when the client has gone.
    typealias Write = @Sendable (String) async throws -> Void

    enum Body: Sendable {
        case text(String)
        case events(@Sendable (_ write: Write) async throws -> Void)
    }

    var status: HTTPResponseStatus
    var headers: [(String, String)]
    var body: Body

    init(_ status: HTTPResponseStatus = .ok, type: String, _ text: String, headers: [(String, String)] = []) {
        self.status = status
        self.headers = [("Content-Type", type)] + headers
        self.body = .text(text)
    }

    static func html(_ page: String, status: HTTPResponseStatus = .ok, headers: [(String, String)] = []) -> WebResponse
    {
        WebResponse(status, type: "text/html; charset=utf-8", page, headers: headers)
    }

    static func text(_ text: String, status: HTTPResponseStatus) -> WebResponse {
        WebResponse(status, type: "text/plain; charset=utf-8", text.hasSuffix("\n") ? text : text + "\n")
    }

    static func json(_ value: JSONValue, status: HTTPResponseStatus = .ok) -> WebResponse {
        WebResponse(status, type: "application/json", value.jsonText() + "\n")
    }

    /// 303 See Other: where a form's POST sends the browser.
    static func redirect(_ location: String, headers: [(String, String)] = []) -> WebResponse {
        WebResponse(
            .seeOther, type: "text/plain; charset=utf-8", "see \(location)\n",
            headers: [("Location", location)] + headers)
    }

    static func events(_ produce: @escaping @Sendable (_ write: Write) async throws -> Void) -> WebResponse {
        var response = WebResponse(.ok, type: "text/event-stream", "")
        response.headers.append(("X-Accel-Buffering", "no"))
        response.body = .events(produce)
        return response
    }
}
