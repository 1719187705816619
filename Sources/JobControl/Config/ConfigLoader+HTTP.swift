import Dispatch
import FoundationEssentials
import Glibc

extension ConfigLoader {
    static let httpKeys = ["listen", "socket", "tokens", "anonymous", "hosts"]

    /// `http: {listen: HOST:PORT, tokens: [{token: !secret NAME, level: read}], anonymous: read}`.
    static func readHTTP(_ node: Node, reader: inout YAMLNodeReader) -> HTTPSettings? {
        guard let entries = reader.mapping(node, what: "'http'") else { return nil }
        var settings = HTTPSettings()
        settings.location = reader.location(node)
        var listenGiven = false
        for entry in entries {
            switch entry.key {
            case "socket":
                if let text = reader.string(entry.value, what: "'socket'") {
                    if text.hasPrefix("/") {
                        settings.socket = text
                    } else {
                        reader.error(entry.value, "'socket' must be an absolute path, as /run/jobcontrol/http.sock")
                    }
                }
            case "listen":
                listenGiven = true
                if let text = reader.string(entry.value, what: "'listen'") {
                    settings.listen = text
                    if settings.hostAndPort == nil {
                        reader.error(entry.value, "'listen' must be HOST:PORT, as 127.0.0.1:9187 or [::1]:9187")
                    }
                }
            case "hosts":
                settings.hosts = reader.stringList(entry.value, what: "'hosts'") ?? []
            case "anonymous":
                if let text = reader.string(entry.value, what: "'anonymous'") {
                    switch text {
                    case "none": settings.anonymous = nil
                    case "read": settings.anonymous = .read
                    default:
                        reader.error(
                            entry.value,
                            "'anonymous' must be none or read (a client without a token never runs or changes anything)"
                        )
                    }
                }
            case "tokens":
                guard case .sequence(let items) = entry.value else {
                    reader.error(entry.value, "'tokens' must be a list of {token: !secret NAME, level: read|run|admin}")
                    continue
                }
                for item in items {
                    guard let fields = reader.mapping(item, what: "a token") else { continue }
                    var value: ConfigValue?
                    var level: AccessPolicy.Level?
                    var name: String?
                    for field in fields {
                        switch field.key {
                        case "token":
                            switch reader.value(field.value, what: "'token'") {
                            case .string(let text)? where text.count >= 16: value = .string(text)
                            case .string?: reader.error(field.value, "a token must be at least 16 characters")
                            case .secret(let name)?: value = .secret(name)
                            case nil: break
                            default: reader.error(field.value, "'token' must be a string or !secret NAME")
                            }
                        case "level":
                            if let text = reader.string(field.value, what: "'level'") {
                                level = AccessPolicy.Level.allCases.first { "\($0)" == text }
                                if level == nil { reader.error(field.value, "'level' must be read, run or admin") }
                            }
                        case "name":
                            name = reader.string(field.value, what: "'name'")
                        default:
                            reader.unknownKey(
                                field.key, field.keyNode, in: "a token", known: ["token", "level", "name"])
                        }
                    }
                    if let value, let level {
                        settings.tokens.append(HTTPSettings.Token(value: value, level: level, name: name))
                    } else if value == nil || level == nil, reader.diagnostics.isEmpty {
                        reader.error(item, "a token needs 'token' and 'level'")
                    }
                }
            default:
                reader.unknownKey(entry.key, entry.keyNode, in: "'http'", known: httpKeys)
            }
        }
        // Only a socket: no TCP listener.
        if settings.socket != nil && !listenGiven { settings.listen = nil }
        return settings
    }
}
