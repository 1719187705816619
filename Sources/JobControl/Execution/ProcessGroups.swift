import Dispatch
import FoundationEssentials
import Glibc

/// Finding and stopping the process groups of builds a crashed daemon left behind.
///
/// A build's command leads its own process group; its group id and the leader's start time (in
/// clock ticks since boot, field 22 of /proc/PID/stat) are stored with the build. A process
/// belongs to that orphaned group only if its group id matches, it started no earlier than the
/// leader did in the same boot, and the group's number does not now lead another group
/// (``members(group:startTicks:)``), so a reused PID is never signalled.
public enum ProcessGroups {
    /// The start time of `pid` in clock ticks since boot, or nil if it does not exist.
    public static func startTicks(of pid: Int32) -> Int64? {
        stat(of: pid)?.start
    }

    /// (process group, start ticks, parent, whether it has ended) of `pid`, from /proc/PID/stat.
    /// Ended is a zombie none of whose threads runs: a process whose main thread called
    /// `pthread_exit` shows state Z while its other threads run on, and has not ended.
    static func stat(of pid: Int32) -> (group: Int32, start: Int64, parent: Int32, ended: Bool)? {
        // open/read rather than Foundation: this runs for every build, and for every process when
        // looking for orphans.
        let descriptor = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1024) { buffer in
            let count = read(descriptor, buffer.baseAddress, buffer.count)
            guard count > 0 else { return nil }
            let bytes = UnsafeBufferPointer(rebasing: buffer[0..<count])
            // The command name may hold spaces and parentheses: fields start after the last ")".
            // (Bytes, not Foundation's backwards String search: that showed in the per-build
            // profile; and the fields are parsed in place: this runs for every build.)
            guard let closing = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
            // After "pid (comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt
            // cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime …
            var zombie = false
            var parent: Int64?
            var group: Int64?
            var threads: Int64 = 1
            var field = 0
            var index = closing + 1
            while index < bytes.count {
                if bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\n") {
                    index += 1
                    continue
                }
                let tokenStart = index
                while index < bytes.count, bytes[index] != UInt8(ascii: " "), bytes[index] != UInt8(ascii: "\n") {
                    index += 1
                }
                if field == 0 {
                    zombie = bytes[tokenStart] == UInt8(ascii: "Z")
                } else if field == 1 || field == 2 || field == 17 || field == 19 {
                    let token = bytes[tokenStart..<index]
                    guard !token.isEmpty, token.count <= 18, token.allSatisfy({ (48...57).contains($0) }) else {
                        return nil
                    }
                    let number = token.reduce(Int64(0)) { $0 * 10 + Int64($1 - 48) }
                    if field == 1 {
                        parent = number
                    } else if field == 2 {
                        group = number
                    } else if field == 17 {
                        threads = number
                    } else if let group, let pgid = Int32(exactly: group), let parent, let ppid = Int32(exactly: parent)
                    {
                        return (pgid, number, ppid, zombie && threads <= 1)
                    }
                }
                field += 1
            }
            return nil
        }
    }

    /// The processes of the orphaned group `group` whose leader started at `startTicks`.
    ///
    /// The kernel hands out a group's number to no new process while the group has members; so
    /// a live process numbered `group` that started at another time means the orphaned group is
    /// gone and the number leads a new, unrelated group (on a busy host PIDs wrap within
    /// minutes), which is left alone. Checking start times alone let crash recovery SIGTERM any
    /// newer group leader that took the number.
    public static func members(group: Int32, startTicks: Int64) -> [Int32] {
        guard !numberTaken(group: group, startTicks: startTicks) else { return [] }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard let info = stat(of: pid) else { return false }
            return info.group == group && info.start >= startTicks
        }
    }

    /// Whether the number of the group whose leader started at `startTicks` now belongs to
    /// another process: a live process numbered `group` that started at another time (see
    /// ``members(group:startTicks:)``).
    static func numberTaken(group: Int32, startTicks: Int64) -> Bool {
        guard let leader = stat(of: group) else { return false }
        return leader.start != startTicks
    }

    /// SIGTERM to the orphans, SIGKILL to those left after `grace`, then a wait (at most
    /// ``killWait``) until they are gone. Returns how many there were.
    @discardableResult
    public static func stopOrphans(group: Int32, startTicks: Int64, grace: Duration = .seconds(5)) async -> Int {
        let found = members(group: group, startTicks: startTicks)
        guard !found.isEmpty else { return 0 }
        for pid in found { kill(pid, SIGTERM) }
        // A zombie has ended (its parent, init for what was reparented, has only to reap it),
        // unless a thread of it still runs.
        func alive() -> [Int32] {
            members(group: group, startTicks: startTicks).filter { stat(of: $0)?.ended == false }
        }
        await waitUntil(within: grace) { alive().isEmpty }
        for pid in alive() { kill(pid, SIGKILL) }
        await waitUntil(within: killWait) { alive().isEmpty }
        return found.count
    }

    /// How long a stop waits after SIGKILL for its processes to be gone: `kill` returns before
    /// the target has exited, and one in uninterruptible sleep (a hung NFS read) exits only when
    /// the sleep ends. After this the caller goes on regardless.
    static let killWait = Duration.seconds(2)

    /// Polls `done` until it holds or `limit` has passed, cancelled or not (crash recovery's
    /// stops run during a shutdown too; `Task.sleep` would return at once there and the loop
    /// spin). The pauses grow from 5 to 50 ms: a poll scans /proc.
    static func waitUntil(within limit: Duration, _ done: () -> Bool) async {
        let deadline = ContinuousClock.now + limit
        var pause = Duration.milliseconds(5)
        while !done(), ContinuousClock.now < deadline {
            await uninterruptibleSleep(pause)
            pause = min(pause * 2, .milliseconds(50))
        }
    }
}
