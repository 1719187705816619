import Dispatch
import FoundationEssentials
import Glibc
import Synchronization

/// The cgroup controllers JobControl uses.
public enum CgroupController: String, Sendable, Hashable, CaseIterable {
    case memory, pids, cpu, io
}

/// Where this daemon's builds get their cgroups: found once per process from
/// `/proc/self/cgroup` and the mounted hierarchies, then set up (``setUp()``).
///
/// - **cgroup v2** (`/sys/fs/cgroup` on Debian 12; `/sys/fs/cgroup/unified` on a hybrid host)
///   holds every build's processes: membership, `cgroup.kill`, `cpu.stat`, and the controllers
///   enabled for the subtree.
/// - Under systemd with `Delegate=yes`, the service's own cgroup is the daemon's: the daemon
///   moves itself into `<service>/daemon` (a cgroup with processes cannot hand controllers to
///   children) and creates builds under `<service>/builds`.
/// - Elsewhere, a subtree `jobcontrol-<pid>` under the daemon's own cgroup, where it may write.
/// - A controller that cgroup v2 does not offer is taken from a writable cgroup v1 hierarchy
///   beside it (hybrid hosts), under the same name.
///
/// Ownership: immutable after set-up; the shared instance is created once, under a lock.
public final class CgroupHost: Sendable, Hashable {
    public static func == (lhs: CgroupHost, rhs: CgroupHost) -> Bool { lhs === rhs }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }

    /// A hierarchy directory under which build cgroups are created.
    public struct Parent: Sendable, Hashable {
        public var path: String
        /// cgroup v2 (else v1).
        public var unified: Bool
    }

    /// Where build cgroups go in cgroup v2: processes, kill, CPU time, and `controllers`.
    public let unified: Parent?
    /// Controllers and the parent each is used through (v2, or a v1 hierarchy).
    public let controllers: [CgroupController: Parent]
    /// Said once at start-up: what containment this daemon has.
    public let description: String
    /// The kernel has `cgroup.kill` (Linux 5.14).
    public let hasKill: Bool

    init(unified: Parent?, controllers: [CgroupController: Parent], description: String, hasKill: Bool) {
        self.unified = unified
        self.controllers = controllers
        self.description = description
        self.hasKill = hasKill
    }

    /// The hierarchy that says which processes belong to a build: v2, else a v1 one.
    public var membership: Parent? {
        unified ?? controllers[.pids] ?? controllers[.memory] ?? controllers[.cpu]
    }

    // MARK: Probing (no side effects; the configuration check uses it)

    /// What the host offers this process, without creating anything.
    public struct Probe: Sendable {
        /// The cgroup v2 mount point, and this process's directory in it.
        var unifiedMount: String?
        var ownUnified: String?
        /// The daemon's service cgroup when systemd delegated it (`Delegate=yes`).
        var delegated: Bool
        var unifiedWritable: Bool
        /// Controllers v2 can give a subtree of ours.
        var unifiedControllers: Set<CgroupController>
        /// Writable v1 hierarchies: controller → this process's directory in it.
        var legacy: [CgroupController: String]

        /// Controllers some hierarchy offers.
        public var available: Set<CgroupController> {
            unifiedControllers.union(legacy.keys)
        }

        /// Some cgroup can hold builds.
        public var usable: Bool { unifiedWritable || !legacy.isEmpty }

        /// Why `controller` cannot be used, for the configuration check.
        public func whyNot(_ controller: CgroupController) -> String {
            if !usable {
                return "this host gives jobcontrold no writable cgroup (run it under systemd with Delegate=yes)"
            }
            return
                "the '\(controller.rawValue)' cgroup controller is not available to jobcontrold here (not delegated to its cgroup, and no writable cgroup v1 '\(controller.rawValue)' hierarchy)"
        }
    }

    private static let probed = Mutex<Probe?>(nil)

    /// What the host could give a daemon run as a service with `Delegate=yes`: the controllers
    /// of the v2 root and the mounted v1 hierarchies. For `jobctl check-config`, which runs in
    /// an administrator's shell, not in the service's cgroup.
    public static var hostProbe: Probe {
        var probe = Probe(delegated: true, unifiedWritable: false, unifiedControllers: [], legacy: [:])
        for mount in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        where FileManager.default.fileExists(atPath: mount + "/cgroup.controllers") {
            probe.unifiedMount = mount
            probe.unifiedWritable = true
            let names = (read(mount + "/cgroup.controllers") ?? "").split(whereSeparator: \.isWhitespace)
            probe.unifiedControllers = Set(names.compactMap { CgroupController(rawValue: String($0)) })
            break
        }
        for controller in CgroupController.allCases where !probe.unifiedControllers.contains(controller) {
            let name = controller == .io ? "blkio" : controller.rawValue
            if FileManager.default.fileExists(atPath: "/sys/fs/cgroup/\(name)/cgroup.procs") {
                probe.legacy[controller] = "/sys/fs/cgroup/\(name)"
            }
        }
        return probe
    }

    /// The probe of this process, taken once.
    public static var probe: Probe {
        probed.withLock { cached in
            if let cached { return cached }
            let fresh = takeProbe()
            cached = fresh
            return fresh
        }
    }

    static func takeProbe() -> Probe {
        let lines = (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? ""
        var ownV2: String?
        var ownV1: [String: String] = [:]
        for line in lines.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            if fields[0] == "0" && fields[1].isEmpty {
                ownV2 = String(fields[2])
            } else {
                for name in fields[1].split(separator: ",") { ownV1[String(name)] = String(fields[2]) }
            }
        }
        var probe = Probe(delegated: false, unifiedWritable: false, unifiedControllers: [], legacy: [:])
        let fileManager = FileManager.default
        for mount in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        where fileManager.fileExists(atPath: mount + "/cgroup.controllers") {
            probe.unifiedMount = mount
            break
        }
        if let mount = probe.unifiedMount, let ownV2 {
            let own = mount + (ownV2 == "/" ? "" : ownV2)
            probe.ownUnified = own
            probe.unifiedWritable = access(own, W_OK) == 0
            let environment = ProcessInfo.processInfo.environment
            probe.delegated =
                environment["INVOCATION_ID"] != nil && ownV2.hasSuffix(".service")
                && access(own + "/cgroup.subtree_control", W_OK) == 0 && access(own + "/cgroup.procs", W_OK) == 0
            // The root, or a delegated service cgroup, can enable what it is offered; any other
            // cgroup holds processes (ours), so a subtree gets only what is already enabled.
            let offered = ownV2 == "/" || probe.delegated ? "cgroup.controllers" : "cgroup.subtree_control"
            let names = ((try? String(contentsOfFile: own + "/" + offered, encoding: .utf8)) ?? "").split(
                whereSeparator: \.isWhitespace)
            if probe.unifiedWritable {
                probe.unifiedControllers = Set(names.compactMap { CgroupController(rawValue: String($0)) })
            }
        }
        for controller in CgroupController.allCases where !probe.unifiedControllers.contains(controller) {
            // v1 names: `io` is `blkio` there.
            let name = controller == .io ? "blkio" : controller.rawValue
            guard let own = ownV1[name] else { continue }
            let directory = "/sys/fs/cgroup/\(name)" + (own == "/" ? "" : own)
            if access(directory, W_OK) == 0 { probe.legacy[controller] = directory }
        }
        return probe
    }

    // MARK: Set-up

    private static let shared = Mutex<CgroupHost??>(nil)

    /// The cgroups of this process's builds, set up on first use; nil when no cgroup can be
    /// used (builds are then contained by process group only).
    public static func setUp() -> CgroupHost? {
        shared.withLock { cached in
            if let cached { return cached }
            let host = make(probe)
            cached = .some(host)
            return host
        }
    }

    static func make(_ probe: Probe) -> CgroupHost? {
        var unified: Parent?
        var controllers: [CgroupController: Parent] = [:]
        var notes: [String] = []
        if probe.unifiedWritable, let own = probe.ownUnified {
            var wanted = probe.unifiedControllers
            let parent: String
            if probe.delegated {
                // Leave the service's cgroup for a leaf of it, then hand controllers down.
                _ = makeDirectory(own + "/daemon")
                if !write("0", to: own + "/daemon/cgroup.procs") { wanted = [] }
                wanted = enable(wanted, in: own)
                parent = own + "/builds"
            } else {
                if own == probe.unifiedMount { wanted = enable(wanted, in: own) }
                parent = own + "/jobcontrol-\(getpid())"
            }
            sweep(around: parent)
            if makeDirectory(parent) {
                wanted = enable(wanted, in: parent)
                unified = Parent(path: parent, unified: true)
                for controller in wanted { controllers[controller] = unified }
                notes.append(
                    "cgroup v2 at \(parent)"
                        + (wanted.isEmpty
                            ? " (no controllers)" : " (\(wanted.map(\.rawValue).sorted().joined(separator: ", ")))"))
            }
        }
        for (controller, own) in probe.legacy.sorted(by: { $0.key.rawValue < $1.key.rawValue })
        where controllers[controller] == nil {
            let parent = own + "/jobcontrol-\(getpid())"
            sweep(around: parent)
            guard makeDirectory(parent) else { continue }
            controllers[controller] = Parent(path: parent, unified: false)
            notes.append("\(controller.rawValue) through cgroup v1 at \(parent)")
        }
        let host = CgroupHost(
            unified: unified, controllers: controllers, description: notes.joined(separator: "; "),
            hasKill: unified.map { access($0.path + "/cgroup.kill", W_OK) == 0 } ?? false)
        return host.membership == nil ? nil : host
    }

    /// Removes empty build cgroups of earlier daemons: those of `jobcontrol-<pid>` subtrees whose
    /// daemon is gone, then the subtrees themselves, and empty ones in `parent` (a delegated
    /// service's `builds`, reused by every daemon of the unit). A cgroup still holding
    /// processes (kept leftovers, or a crashed daemon's builds not yet recovered) stays.
    static func sweep(around parent: String) {
        let fileManager = FileManager.default
        func removeEmptyChildren(of directory: String) {
            for child in (try? fileManager.contentsOfDirectory(atPath: directory)) ?? [] where isOurs(child) {
                let path = directory + "/" + child
                if child.hasPrefix("notify-") {
                    // A notification's command left by a daemon that died: nobody waits for it
                    // any more, and the notification is sent again.
                    _ = write("1", to: path + "/cgroup.kill")
                    for pid in (read(path + "/cgroup.procs") ?? "").split(separator: "\n").compactMap({ pid_t($0) }) {
                        kill(pid, SIGKILL)
                    }
                    for _ in 0..<200 where rmdir(path) != 0 && errno == EBUSY { usleep(1000) }
                }
                rmdir(path)  // refused while it holds processes
            }
        }
        removeEmptyChildren(of: parent)
        let above = parent.parentPath
        for sibling in (try? fileManager.contentsOfDirectory(atPath: above)) ?? [] {
            guard sibling.hasPrefix("jobcontrol-"), let pid = pid_t(sibling.dropFirst("jobcontrol-".count)),
                pid != getpid(), kill(pid, 0) != 0, errno == ESRCH
            else { continue }
            removeEmptyChildren(of: above + "/" + sibling)
            rmdir(above + "/" + sibling)
        }
    }

    /// The cgroups a dead daemon made for build `buildID` (`build-<id>.<n>` in each of its
    /// hierarchies), found by name: for a build whose start was recorded and whose cgroup was
    /// not (the daemon died between the two), so that crash recovery still stops what runs in
    /// them. `daemon` is the pid of the daemon that had the database before; its subtree
    /// (`jobcontrol-<pid>`) is searched while that pid is dead, and a delegated service's
    /// `builds`, which every daemon of the unit shares, is searched as it is.
    public static func leftBehind(buildID: Int64, daemon: Int32?) -> [String] {
        guard let host = setUp() else { return [] }
        var parents = host.controllers.values.filter { !$0.unified }.map(\.path)
        if let unified = host.unified { parents.insert(unified.path, at: 0) }
        var found: [String] = []
        var searched: Set<String> = []
        for parent in parents {
            var directory = parent
            if parent.lastPathComponentText == "jobcontrol-\(getpid())" {
                guard let daemon, daemon != getpid(), kill(daemon, 0) != 0, errno == ESRCH else { continue }
                directory = parent.parentPath + "/jobcontrol-\(daemon)"
            }
            guard searched.insert(directory).inserted else { continue }
            for child in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            where child.hasPrefix("build-\(buildID).") {
                found.append(directory + "/" + child)
            }
        }
        return found
    }

    /// A cgroup the daemon makes: a build's (`build-<id>.<n>`) or a notification command's
    /// (`notify-<id>.<n>`).
    static func isOurs(_ name: String) -> Bool { name.hasPrefix("build-") || name.hasPrefix("notify-") }

    /// ``release()`` of the process's host, if it was set up.
    public static func releaseIfSetUp() {
        if case .some(.some(let host)) = shared.withLock({ $0 }) { host.release() }
    }

    /// At the daemon's stop: removes this process's empty build cgroups and its subtrees (those
    /// still holding kept processes stay, for the next daemon's sweep).
    public func release() {
        var parents = Set(controllers.values.map(\.path))
        if let unified { parents.insert(unified.path) }
        for parent in parents {
            for child in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where Self.isOurs(child) {
                rmdir(parent + "/" + child)
            }
            if parent.lastPathComponentText.hasPrefix("jobcontrol-") { rmdir(parent) }
        }
    }

    /// Enables what it can of `controllers` for the children of `directory`; returns those enabled.
    static func enable(_ controllers: Set<CgroupController>, in directory: String) -> Set<CgroupController> {
        controllers.filter { write("+\($0.rawValue)", to: directory + "/cgroup.subtree_control") }
    }

    static func makeDirectory(_ path: String) -> Bool {
        mkdir(path, 0o755) == 0 || errno == EEXIST
    }

    @discardableResult
    static func write(_ text: String, to path: String) -> Bool {
        let descriptor = open(path, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return text.withCString { Glibc.write(descriptor, $0, strlen($0)) } >= 0
    }

    static func read(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        // Read into stack scratch space (these files are read for every build).
        var text: [UInt8] = []
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { buffer in
            while true {
                let count = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
                if count <= 0 { break }
                text += UnsafeBufferPointer(rebasing: buffer[0..<count])
            }
        }
        return String(decoding: text, as: UTF8.self)
    }
}
