import Dispatch
import FoundationEssentials
import Glibc

/// `cluster:` — how this daemon takes part when several share a PostgreSQL database.
public struct ClusterSettings: Sendable, Hashable {
    /// This daemon's name in the cluster: unique among the daemons sharing the database, and
    /// stable across restarts (a restarted daemon finds the builds it left). Default: the host name.
    public var node: String?
    /// How long after its last heartbeat a daemon counts as dead and the others recover its
    /// builds. Heartbeats come every third of it.
    public var lease: TimeInterval = 30

    public init(node: String? = nil, lease: TimeInterval = 30) {
        self.node = node
        self.lease = lease
    }

    /// The lease's bounds: shorter than a second risks declaring a busy daemon dead; longer than
    /// an hour leaves a dead daemon's builds stuck that long.
    public static let leaseRange: ClosedRange<TimeInterval> = 1...3600

    /// Node names: letters, digits, `.`, `_`, `-`, `@`, `:`; at most 64 bytes.
    public static func isValidNode(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.unicodeScalars.allSatisfy {
                $0.isASCIIAlphanumeric || "._-@:".unicodeScalars.contains($0)
            }
    }
}
