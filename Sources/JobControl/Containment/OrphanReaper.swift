import CLinux
import Dispatch
import FoundationEssentials
import Glibc
import Synchronization

/// Containment without cgroups: the daemon becomes the child subreaper, so what a build's
/// command double-forks is reparented to the daemon (not to init), and this reaper collects
/// those processes when they exit. A build's own command is reaped by its build
/// (``ProcessSpawner/waitForExit(_:)``), never here.
///
/// Ownership: `commands` (a `Mutex`) holds the PIDs of running build commands; the reaping
/// task is started once per process.
public enum OrphanReaper {
    private static let commands = Mutex<Set<pid_t>>([])
    private static let started = Atomic<Bool>(false)

    /// Runs `spawn` (which returns the new command's PID, or nil) and registers the command, under
    /// the lock the reaper holds while it reaps: a command that exits at once is never taken for
    /// an orphan.
    static func spawning(_ spawn: () -> pid_t?) -> pid_t? {
        guard started.load(ordering: .relaxed) else { return spawn() }
        return commands.withLock { commands in
            let pid = spawn()
            if let pid { commands.insert(pid) }
            return pid
        }
    }

    static func reaped(_ pid: pid_t) {
        guard started.load(ordering: .relaxed) else { return }
        commands.withLock { _ = $0.remove(pid) }
    }

    /// Becomes the subreaper and starts reaping adopted orphans (once per process). Returns
    /// false if the kernel refused.
    public static func start() -> Bool {
        guard jobcontrol_set_child_subreaper() == 0 else { return false }
        guard !started.exchange(true, ordering: .relaxed) else { return true }
        Task.detached {
            while true {
                try? await Task.sleep(for: .seconds(1))
                reapAdopted()
            }
        }
        return true
    }

    /// Children of this daemon that are not build commands but came from build `buildID`
    /// (orphans reparented here, found by the `JOBCONTROL_BUILD_ID` they inherited): what a
    /// build left behind outside its process group (after `setsid`). Empty unless started.
    static func adopted(fromBuild buildID: Int64) -> [pid_t] {
        guard started.load(ordering: .relaxed) else { return [] }
        let running = commands.withLock { $0 }
        let candidates = children().filter { !running.contains($0) }
        guard !candidates.isEmpty else { return [] }  // the usual case: nothing adopted
        let marker = Array("JOBCONTROL_BUILD_ID=\(buildID)".utf8)
        return candidates.filter { pid in
            guard let environment = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return false }
            return environment.split(separator: 0).contains { $0.elementsEqual(marker) }
        }
    }

    /// This process's children, from each thread's `/proc/self/task/TID/children` (an orphan is
    /// reparented to one of the subreaper's threads): a few small reads, not a scan of /proc.
    static func children() -> [pid_t] {
        let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return threads.flatMap { thread in
            (CgroupHost.read("/proc/self/task/\(thread)/children") ?? "").split(separator: " ").compactMap {
                pid_t($0.trimmingBlanks(newlines: true))
            }
        }
    }

    /// Reaps every exited child that is not a build's command.
    static func reapAdopted() {
        commands.withLock { running in
            for pid in children() where !running.contains(pid) {
                var status: Int32 = 0
                waitpid(pid, &status, WNOHANG)
            }
        }
    }
}
