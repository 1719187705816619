import Dispatch
import FoundationEssentials
import Glibc

/// `access: {read: [...], run: [...], admin: [...], socket_group: NAME}`.
extension ConfigLoader {
    static let accessKeys = ["read", "run", "admin", "socket_group"]

    static func readAccess(_ node: Node, reader: inout YAMLNodeReader) -> AccessPolicy? {
        guard let entries = reader.mapping(node, what: "'access'") else { return nil }
        var policy = AccessPolicy()
        for entry in entries {
            switch entry.key {
            case "read", "run", "admin":
                let principals = readPrincipals(entry.value, key: entry.key, reader: &reader)
                switch entry.key {
                case "read": policy.read = principals
                case "run": policy.run = principals
                default: policy.admin = principals
                }
            case "socket_group":
                if let name = reader.string(entry.value, what: "'access.socket_group'") {
                    if getgrnam(name) == nil {
                        reader.error(entry.value, "group '\(name)' does not exist on this host")
                    } else {
                        policy.socketGroup = name
                    }
                }
            default:
                reader.unknownKey(entry.key, entry.keyNode, in: "'access'", known: accessKeys)
            }
        }
        return policy
    }

    static func readPrincipals(_ node: Node, key: String, reader: inout YAMLNodeReader) -> [AccessPolicy.Principal] {
        let what = "'access.\(key)'"
        guard case .sequence(let items) = node else {
            reader.error(
                node,
                "\(what) must be a list such as [user:alice, group:ops, '*'], found \(YAMLNodeReader.typeName(node))")
            return []
        }
        return items.compactMap { item -> AccessPolicy.Principal? in
            guard let text = reader.string(item, what: "each item of \(what)") else { return nil }
            if text == "*" { return .everyone }
            if text.hasPrefix("user:") {
                let name = String(text.dropFirst(5))
                guard getpwnam(name) != nil else {
                    reader.error(item, "user '\(name)' does not exist on this host")
                    return nil
                }
                return .user(name)
            }
            if text.hasPrefix("group:") {
                let name = String(text.dropFirst(6))
                guard getgrnam(name) != nil else {
                    reader.error(item, "group '\(name)' does not exist on this host")
                    return nil
                }
                return .group(name)
            }
            reader.error(item, "'\(text)' in \(what) must be user:NAME, group:NAME or '*'")
            return nil
        }
    }
}
