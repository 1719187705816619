import CLinux
import Foundation
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

    static func spawned(_ pid: pid_t) {
        guard started.load(ordering: .relaxed) else { return }
        commands.withLock { _ = $0.insert(pid) }
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

    /// Reaps every exited child that is not a build's command.
    static func reapAdopted() {
        let me = getpid()
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for pid in entries.compactMap(pid_t.init) {
            guard let stat = CgroupHost.read("/proc/\(pid)/stat"), let closing = stat.lastIndex(of: ")") else {
                continue
            }
            let fields = stat[stat.index(after: closing)...].split(separator: " ")
            guard fields.count > 2, fields[0] == "Z", pid_t(fields[1]) == me else { continue }
            if commands.withLock({ $0.contains(pid) }) { continue }
            var status: Int32 = 0
            waitpid(pid, &status, WNOHANG)
        }
    }
}
