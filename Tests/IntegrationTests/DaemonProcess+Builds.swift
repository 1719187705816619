import Foundation
import Glibc

extension DaemonProcess {
    /// The cgroup subtree where a daemon runs its builds (`jobcontrol-<pid>` beside its own
    /// cgroup in the unified hierarchy), if there is one. Read while the daemon runs.
    static func buildCgroup(of pid: pid_t) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8),
            let own = text.split(separator: "\n").first(where: { $0.hasPrefix("0::") })?.dropFirst(3)
        else { return nil }
        let mount =
            FileManager.default.fileExists(atPath: "/sys/fs/cgroup/unified/cgroup.procs")
            ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup"
        let path = mount + (own == "/" ? "" : String(own)) + "/jobcontrol-\(pid)"
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// SIGKILL to every process in `cgroup` and below (`cgroup.kill` where the kernel has it,
    /// else each process listed in the subtree's `cgroup.procs` files); then, once they are
    /// gone (5 s at most), the subtree's directories are removed.
    static func killAll(in cgroup: String) {
        let descriptor = open(cgroup + "/cgroup.kill", O_WRONLY | O_CLOEXEC)
        let killed = descriptor >= 0 && write(descriptor, "1", 1) == 1
        if descriptor >= 0 { close(descriptor) }
        let directories =
            [cgroup]
            + (FileManager.default.subpaths(atPath: cgroup) ?? []).map { cgroup + "/" + $0 }.filter {
                var isDirectory: ObjCBool = false
                return FileManager.default.fileExists(atPath: $0, isDirectory: &isDirectory) && isDirectory.boolValue
            }
        if !killed {
            for directory in directories {
                let listed = (try? String(contentsOfFile: directory + "/cgroup.procs", encoding: .utf8)) ?? ""
                for pid in listed.split(separator: "\n").compactMap({ pid_t($0) }) { Glibc.kill(pid, SIGKILL) }
            }
        }
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline,
            ((try? String(contentsOfFile: cgroup + "/cgroup.events", encoding: .utf8)) ?? "").contains("populated 1")
        {
            usleep(10_000)
        }
        // Deepest first: a cgroup with children cannot be removed.
        for directory in directories.sorted(by: { $0.count > $1.count }) { rmdir(directory) }
    }
}
