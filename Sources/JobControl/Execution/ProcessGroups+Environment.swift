import Dispatch
import FoundationEssentials
import Glibc

/// Finding what a crashed daemon's builds left running outside their process group and cgroup:
/// a command that daemonized (`setsid`, a double fork) leads a session of its own, and without
/// cgroups (`containment: process-group`) nothing else ties it to its build. Such a process
/// still carries the environment the build gave it: `JOBCONTROL_BUILD_ID` and the daemon's
/// `JOBCONTROL_SOCKET`. A process that cleared its environment is not found this way.
extension ProcessGroups {
    /// A process found by its environment, with its start time (a reused PID is not it).
    struct Carrier: Equatable {
        var pid: Int32
        var startTicks: Int64
    }

    /// The live processes whose environment holds `JOBCONTROL_SOCKET=socket` and
    /// `JOBCONTROL_BUILD_ID=` one of `buildIDs`, except this process and what descends from it
    /// (a crashed daemon's leftovers are not ours: they were reparented away when it died; what
    /// descends from us is our own builds', and an engine never kills those by another's id).
    /// Processes whose environment cannot be read (another user's, for a daemon that is not
    /// root) are not found.
    static func carrying(buildIDs: Set<Int64>, socket: String) -> [Carrier] {
        guard !buildIDs.isEmpty else { return [] }
        let socketEntry = Array("JOBCONTROL_SOCKET=\(socket)".utf8)
        let idPrefix = Array("JOBCONTROL_BUILD_ID=".utf8)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { $0 != getpid() }.compactMap { pid -> Carrier? in
            guard let environment = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return nil }
            var hasSocket = false
            var build: Int64?
            for entry in environment.split(separator: 0, omittingEmptySubsequences: true) {
                if entry.elementsEqual(socketEntry) {
                    hasSocket = true
                } else if entry.starts(with: idPrefix) {
                    build = Int64(String(decoding: entry.dropFirst(idPrefix.count), as: UTF8.self))
                }
            }
            guard hasSocket, let build, buildIDs.contains(build), let start = stat(of: pid)?.start,
                !descendsFromThisProcess(pid)
            else { return nil }
            return Carrier(pid: pid, startTicks: start)
        }
    }

    /// SIGTERM to the processes that carry `buildIDs` (``carrying(buildIDs:socket:)``), SIGKILL
    /// to those left after `grace`, then a wait (at most ``killWait``) until they are gone.
    /// Returns how many there were.
    @discardableResult
    static func stopCarrying(buildIDs: Set<Int64>, socket: String, grace: Duration = .seconds(5)) async -> Int {
        let found = carrying(buildIDs: buildIDs, socket: socket)
        guard !found.isEmpty else { return 0 }
        // A zombie has ended (its parent, init for what was reparented, has only to reap it),
        // unless a thread of it still runs.
        func alive() -> [Carrier] {
            found.filter { carrier in
                stat(of: carrier.pid).map { $0.start == carrier.startTicks && !$0.ended } ?? false
            }
        }
        for carrier in alive() { kill(carrier.pid, SIGTERM) }
        await waitUntil(within: grace) { alive().isEmpty }
        for carrier in alive() { kill(carrier.pid, SIGKILL) }
        // Stopped means gone: a retry of the build may start next.
        await waitUntil(within: killWait) { alive().isEmpty }
        return found.count
    }

    /// Whether `pid` is this process's child, grandchild, … (its parents read from /proc, at
    /// most 64 levels up).
    static func descendsFromThisProcess(_ pid: Int32) -> Bool {
        let own = getpid()
        var current = pid
        for _ in 0..<64 {
            guard let parent = stat(of: current)?.parent, parent > 1 else { return false }
            if parent == own { return true }
            current = parent
        }
        return false
    }
}
