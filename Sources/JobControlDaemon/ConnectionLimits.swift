import Dispatch
import FoundationEssentials
import Glibc
import JobControl
import JobControlProtocol

/// Who may hold how many control connections, so that no user can lock the others out.
///
/// - root and the daemon's own user are always served (administration, and builds running as
///   the daemon's user calling `jobctl progress`);
/// - any other user gets ``perUser`` connections, and everybody together ``total``; past either,
///   a connection is admitted *restricted* (it may only make a running build's token-carrying
///   `io.jobcontrol.Build` calls, and is closed when idle for one guard tick), so a build running
///   as a flooding user still reports its progress;
/// - past twice ``perUser`` for one user, or ``hard`` (what the descriptor limit allows) in all,
///   connections are closed at once (after saying why), so one user's flood of restricted
///   connections cannot fill the daemon up to ``hard`` and shut every other user out.
///
/// Ownership: a value kept in ``ControlServer``'s mutex.
struct ConnectionLimits {
    enum Admission {
        case served
        case restricted(String)
        case refused(String)

        /// What to log, if anything.
        var refusal: String? {
            switch self {
            case .served: return nil
            case .restricted(let reason), .refused(let reason): return reason
            }
        }
    }

    static let perUser = 64
    /// Connections of everybody together before restriction, and the absolute bound; both leave
    /// room in the daemon's descriptor limit for its database, builds' pipes and its own files.
    static let (total, hard): (Int, Int) = {
        var limit = rlimit()
        let descriptors =
            getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0
            ? Int(min(limit.rlim_cur, 1 << 20)) : 1024
        let total = max(32, min(1024, descriptors - 256))
        return (total, max(total, min(total + 256, descriptors - 96)))
    }()
    static let daemonUID = getuid()

    var open = 0
    var perUser: [UInt32: Int] = [:]
    var lastRefusalLogged: ContinuousClock.Instant?

    static func isPrivileged(_ peer: AccessPolicy.Peer?) -> Bool {
        guard let peer else { return false }
        return peer.uid == 0 || peer.uid == daemonUID
    }

    /// Counts a new connection in (unless refused); ``release(_:)`` counts it out.
    mutating func admit(_ peer: AccessPolicy.Peer?) -> Admission {
        let uid = peer?.uid ?? UInt32.max
        if Self.isPrivileged(peer) {
            open += 1
            return .served
        }
        guard open < Self.hard else {
            return .refused("refusing connections: \(open) are open, the most the daemon's descriptor limit allows")
        }
        let mine = perUser[uid, default: 0]
        guard mine < 2 * Self.perUser else {
            return .refused("refusing connections of uid \(uid): it has \(mine) open, twice the most one user may use")
        }
        open += 1
        perUser[uid] = mine + 1
        if mine >= Self.perUser {
            return .restricted(
                "uid \(uid) has \(mine) connections open (the most one user may have is \(Self.perUser)); further ones only serve running builds"
            )
        }
        if open > Self.total {
            return .restricted(
                "\(open) connections are open (more than \(Self.total)); further ones of other users only serve running builds"
            )
        }
        return .served
    }

    mutating func release(_ peer: AccessPolicy.Peer?) {
        open -= 1
        guard !Self.isPrivileged(peer) else { return }
        let uid = peer?.uid ?? UInt32.max
        let left = perUser[uid, default: 1] - 1
        perUser[uid] = left > 0 ? left : nil
    }

    /// The reply a restricted connection gets for any call but a build's.
    static func tooMany(_ peer: AccessPolicy.Peer?) -> VarlinkError {
        VarlinkError(
            "\(Interfaces.manager).TooManyConnections", parameters: ["limit": .int(Int64(perUser))],
            message:
                "\(peer?.userName.map { "user '\($0)'" } ?? "this user") has too many connections open to jobcontrold (at most \(perUser) per user, \(total) in all); close some and try again"
        )
    }
}
