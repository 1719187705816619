import Dispatch
import FoundationEssentials
import Glibc

/// `http:`: the daemon's HTTP listener (off without it): the dashboard, the JSON API and
/// `/metrics` (docs/web.md), with the same access levels as the control socket.
public struct HTTPSettings: Sendable, Hashable {
    /// `host:port` to listen on; `127.0.0.1:9187` by default (loopback: nothing is exposed
    /// unless asked); nil when only ``socket`` is configured.
    public var listen: String? = "127.0.0.1:9187"
    /// A Unix socket to listen on as well (or instead, when `listen` is not given): clients
    /// are known by their credentials (SO_PEERCRED) and get their level from `access:`, as on
    /// the control socket. For a reverse proxy on the same host.
    public var socket: String?
    /// Where `http:` is in the configuration (for errors about it).
    public var location: SourceLocation?
    /// Bearer tokens (`Authorization: Bearer TOKEN`) and the level each grants; a token is a
    /// `!secret` reference or a string.
    public var tokens: [Token] = []
    /// What a request without a token may do: nothing (nil, the default) or `read`.
    public var anonymous: AccessPolicy.Level?
    /// Names the dashboard may be reached by (the `Host` of a request) besides IP addresses,
    /// `localhost`, the `listen` host and this machine's name: with `anonymous: read`, a request
    /// naming another host is refused, so a web page cannot rebind its own name to this
    /// address (DNS rebinding) and read the dashboard through a visitor's browser.
    public var hosts: [String] = []

    public struct Token: Sendable, Hashable {
        public var value: ConfigValue
        public var level: AccessPolicy.Level
        /// Who holds it, for the log lines of actions taken with it (`token N` when unnamed).
        public var name: String?

        public init(value: ConfigValue, level: AccessPolicy.Level, name: String? = nil) {
            self.value = value
            self.level = level
            self.name = name
        }
    }

    public init() {}

    /// Equal when they listen and grant alike: where `http:` sits in the file does not count (a
    /// reload after an edit elsewhere must not say the listener changed).
    public static func == (a: HTTPSettings, b: HTTPSettings) -> Bool {
        a.listen == b.listen && a.socket == b.socket && a.tokens == b.tokens && a.anonymous == b.anonymous
            && a.hosts == b.hosts
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(listen)
        hasher.combine(socket)
        hasher.combine(tokens)
        hasher.combine(anonymous)
        hasher.combine(hosts)
    }

    /// Whether a TCP request's `Host` header names this daemon (see ``hosts``). Always, without
    /// anonymous access: a rebound name gets no credentials from the browser, so nothing to
    /// read. A request without `Host` (HTTP/1.0; browsers always send one) is allowed.
    public func allowsHost(_ header: String?) -> Bool {
        guard anonymous != nil, let header else { return true }
        var name = Substring(header.lowercased())
        if name.hasPrefix("[") {
            return name.contains("]")  // an IPv6 literal
        }
        if let colon = name.lastIndex(of: ":"), name[name.index(after: colon)...].allSatisfy(\.isNumber) {
            name = name[..<colon]
        }
        if name.hasSuffix(".") { name = name.dropLast() }
        var address = in_addr()
        if inet_pton(AF_INET, String(name), &address) == 1 { return true }
        if name == "localhost" || name.hasSuffix(".localhost") { return true }
        if let listenHost = hostAndPort?.host.lowercased(), name == listenHost { return true }
        if hosts.contains(where: { $0.lowercased() == name }) { return true }
        return Self.machineNames.contains(String(name))
    }

    /// This machine's name, and its first label, lowercased.
    static let machineNames: Set<String> = {
        var buffer = [UInt8](repeating: 0, count: 256)
        let got = buffer.withUnsafeMutableBufferPointer { pointer in
            pointer.withMemoryRebound(to: CChar.self) { gethostname($0.baseAddress!, $0.count - 1) }
        }
        guard got == 0 else { return [] }
        let name = String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self).lowercased()
        return [name, String(name.split(separator: ".").first ?? Substring(name))]
    }()

    /// The level a request's `Authorization` header grants; nil when none.
    public func level(authorization: String?, secrets: [String: String]) -> AccessPolicy.Level? {
        guard let token = Self.bearerToken(authorization) else { return anonymous }
        return grant(token: token, secrets: secrets)?.level
    }

    /// The token of an `Authorization: Bearer TOKEN` header; nil for none or another scheme.
    /// The scheme is case-insensitive (RFC 7235); spaces around the token are dropped by ``grant``.
    public static func bearerToken(_ authorization: String?) -> String? {
        guard let authorization, authorization.count > 7, authorization.prefix(7).lowercased() == "bearer "
        else { return nil }
        return String(authorization.dropFirst(7))
    }

    /// The level `token` grants and the name of who holds it (`token N` when unnamed); nil
    /// when no configured token matches.
    public func grant(token: String, secrets: [String: String]) -> (level: AccessPolicy.Level, name: String)? {
        let given = Array(token.trimmingBlanks().utf8)
        var granted: (level: AccessPolicy.Level, name: String)?
        for (index, token) in tokens.enumerated() {
            let expected: String
            switch token.value {
            case .string(let text): expected = text
            case .secret(let name): expected = secrets[name] ?? ""
            default: continue
            }
            // Compared in time independent of where they differ.
            let bytes = Array(expected.utf8)
            guard !bytes.isEmpty, bytes.count == given.count else { continue }
            var difference: UInt8 = 0
            for (a, b) in zip(bytes, given) { difference |= a ^ b }
            if difference == 0, token.level >= granted?.level ?? token.level {
                granted = (token.level, token.name.map { "token \($0)" } ?? "token \(index + 1)")
            }
        }
        return granted
    }

    /// `host` and `port` of `listen`; `[::1]:9187` for IPv6.
    public var hostAndPort: (host: String, port: Int)? {
        guard let listen, let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(listen[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }
}
