import Dispatch
import FoundationEssentials
import Glibc

/// Who may do what over the control socket (`access:`), decided from the peer credentials of each
/// connection (`SO_PEERCRED`). Levels nest: `admin` ⊇ `run` ⊇ `read`.
///
/// Without `access:` anyone who can open the socket may do everything: the socket's mode (0660)
/// and group are then the only gate. root and the daemon's own user may always do everything.
public struct AccessPolicy: Sendable, Hashable {
    public enum Level: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
        /// List and read jobs, builds, logs, progress, status, schedules.
        case read = 1
        /// Also run and cancel builds, suspend and resume schedules.
        case run = 2
        /// Also reload, delete builds, prune.
        case admin = 3

        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        public var description: String { ["", "read", "run", "admin"][rawValue] }
    }

    /// `user:NAME`, `group:NAME`, or `*` (everyone who can connect).
    public enum Principal: Sendable, Hashable, CustomStringConvertible {
        case user(String)
        case group(String)
        case everyone

        public var description: String {
            switch self {
            case .user(let name): "user:\(name)"
            case .group(let name): "group:\(name)"
            case .everyone: "*"
            }
        }
    }

    public var read: [Principal] = []
    public var run: [Principal] = []
    public var admin: [Principal] = []
    /// The group the socket file is given (mode 0660), so its members can connect.
    public var socketGroup: String?

    public init() {}

    /// The connecting process, as the kernel vouches for it.
    public struct Peer: Sendable, Hashable, CustomStringConvertible {
        public var pid: Int32
        public var uid: UInt32
        public var gid: UInt32

        public init(pid: Int32, uid: UInt32, gid: UInt32) {
            self.pid = pid
            self.uid = uid
            self.gid = gid
        }

        public var userName: String? { UserDatabase.user(id: uid)?.name }

        /// Its user's groups (primary and supplementary) by name, plus the connection's gid.
        public var groupNames: Set<String> {
            var names: Set<String> = []
            if let group = UserDatabase.groupName(id: gid) { names.insert(group) }
            guard let user = UserDatabase.user(id: uid) else { return names }
            var count: Int32 = 64
            var groups = [gid_t](repeating: 0, count: Int(count))
            if getgrouplist(user.name, user.gid, &groups, &count) < 0 {
                groups = [gid_t](repeating: 0, count: Int(count))
                _ = getgrouplist(user.name, user.gid, &groups, &count)
            }
            for id in groups.prefix(Int(max(0, count))) {
                if let group = UserDatabase.groupName(id: id) { names.insert(group) }
            }
            return names
        }

        public var description: String { "uid \(uid) (\(userName ?? "?")), pid \(pid)" }
    }

    /// The highest level `peer` has.
    public func level(of peer: Peer) -> Level? {
        if peer.uid == 0 || peer.uid == geteuid() { return .admin }
        let user = peer.userName
        let groups = peer.groupNames
        func matches(_ principals: [Principal]) -> Bool {
            principals.contains { principal in
                switch principal {
                case .everyone: true
                case .user(let name): name == user
                case .group(let name): groups.contains(name)
                }
            }
        }
        if matches(admin) { return .admin }
        if matches(run) { return .run }
        if matches(read) { return .read }
        return nil
    }

    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "read": .array(read.map { .string($0.description) }),
            "run": .array(run.map { .string($0.description) }),
            "admin": .array(admin.map { .string($0.description) }),
        ]
        if let socketGroup { object["socket_group"] = .string(socketGroup) }
        return .object(object)
    }
}
