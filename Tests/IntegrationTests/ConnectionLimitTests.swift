import Foundation
import JobControl
import Testing

@testable import JobControlDaemon

/// Who may hold how many control connections (`ConnectionLimits`): the rules that keep one user
/// from locking the others out, at the numbers where they switch.
@Suite struct ConnectionLimitTests {
    static func peer(_ uid: UInt32) -> AccessPolicy.Peer { AccessPolicy.Peer(pid: 1, uid: uid, gid: uid) }

    static func restricted(_ admission: ConnectionLimits.Admission) -> Bool {
        if case .restricted = admission { return true }
        return false
    }

    static func refused(_ admission: ConnectionLimits.Admission) -> Bool {
        if case .refused = admission { return true }
        return false
    }

    @Test func oneUserGetsItsShareThenOnlyBuildCalls() {
        var limits = ConnectionLimits()
        let user = Self.peer(4242)
        for index in 0..<ConnectionLimits.perUser {
            if case .served = limits.admit(user) {
            } else {
                Issue.record("connection \(index) of the user was not served")
            }
        }
        #expect(Self.restricted(limits.admit(user)), "past its share, a user's connection only serves builds")
        // Another user is not affected, and neither are root and the daemon's own user.
        if case .served = limits.admit(Self.peer(4343)) {} else { Issue.record("another user was restricted") }
        if case .served = limits.admit(Self.peer(0)) {} else { Issue.record("root was restricted") }
        if case .served = limits.admit(Self.peer(ConnectionLimits.daemonUID)) {
        } else {
            Issue.record("the daemon's user was restricted")
        }
        // A connection released makes room again.
        limits.release(user)
        limits.release(user)
        if case .served = limits.admit(user) {} else { Issue.record("a released connection did not make room") }
    }

    /// One user's restricted connections stop at twice its share: a flood of them (kept open
    /// by calls) filled the daemon up to the hard bound, and every other user was refused.
    @Test func oneUsersFloodStopsAtTwiceItsShare() {
        var limits = ConnectionLimits()
        let user = Self.peer(4242)
        for _ in 0..<(2 * ConnectionLimits.perUser) { #expect(!Self.refused(limits.admit(user))) }
        #expect(Self.refused(limits.admit(user)), "past twice its share, a user's connections are refused")
        #expect(limits.open == 2 * ConnectionLimits.perUser, "a refused connection is not counted")
        if case .served = limits.admit(Self.peer(4343)) {} else { Issue.record("another user was not served") }
    }

    @Test func everybodyTogetherGetsTheTotalThenTheHardBound() {
        var limits = ConnectionLimits()
        // Many users, each within its share, up to the total.
        var uid: UInt32 = 10_000
        while limits.open < ConnectionLimits.total {
            if case .served = limits.admit(Self.peer(uid)) {
            } else {
                Issue.record("served connections stopped at \(limits.open)")
                return
            }
            uid += 1
        }
        #expect(Self.restricted(limits.admit(Self.peer(uid))), "past the total, connections only serve builds")
        while limits.open < ConnectionLimits.hard {
            uid += 1
            _ = limits.admit(Self.peer(uid))
        }
        #expect(Self.refused(limits.admit(Self.peer(uid + 1))), "past the hard bound, connections are closed at once")
        if case .served = limits.admit(Self.peer(0)) {} else { Issue.record("root was not served at the hard bound") }
    }
}
