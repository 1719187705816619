import Dispatch
import FoundationEssentials
import Glibc
import Synchronization

/// One build's cgroups: a directory `build-<id>.<n>` under each parent of the ``CgroupHost``
/// (the v2 one, and a v1 one per controller taken from v1). The command joins them before it
/// runs (``ProcessSpawner``); when the build ends every process still in them is stopped and
/// the directories are removed.
///
/// Ownership: immutable; the directories belong to the build that made them (and, after a
/// crash, to the recovery that finds them by the paths stored with the build).
public struct BuildCgroup: Sendable {
    /// The directories, the membership one first (the v2 one when there is one).
    public let paths: [String]
    /// Which of `paths` is v2, and which carries each controller.
    let unified: String?
    let controllers: [CgroupController: String]

    private static let sequence = Atomic<Int>(0)

    /// Creates the build's cgroups and writes its limits. Throws a message naming the file that
    /// could not be written (a limit the host refused).
    static func create(buildID: Int64, host: CgroupHost, resources: BuildResources) throws(ContainmentError)
        -> BuildCgroup
    {
        try create(prefix: "build-\(buildID)", host: host, resources: resources)
    }

    /// The same for another process the daemon runs (a notification's command: `notify-<id>`).
    static func create(prefix: String, host: CgroupHost, resources: BuildResources) throws(ContainmentError)
        -> BuildCgroup
    {
        let name = "\(prefix).\(sequence.add(1, ordering: .relaxed).newValue)"
        var paths: [String] = []
        var unified: String?
        var controllers: [CgroupController: String] = [:]
        func directory(_ parent: CgroupHost.Parent) throws(ContainmentError) -> String {
            let path = parent.path + "/" + name
            if !paths.contains(path) {
                guard mkdir(path, 0o755) == 0 else {
                    let code = errno
                    for made in paths { rmdir(made) }
                    throw ContainmentError(path: path, errno: code, action: "create the build's cgroup")
                }
                paths.append(path)
            }
            return path
        }
        if let parent = host.unified { unified = try directory(parent) }
        if unified == nil, let parent = host.membership { _ = try directory(parent) }
        // A controller of the v2 directory comes for free (limits, peaks, I/O); one taken from a
        // v1 hierarchy costs a directory of its own per build (mkdir and rmdir of a v1 memory
        // cgroup are a third of a trivial build's CPU), so it is used only for a limit. Without
        // it, peak memory is the largest process's (rusage).
        for (controller, parent) in host.controllers {
            let wanted: Bool
            switch controller {
            case .memory: wanted = parent.unified || resources.memoryMax != nil
            case .pids: wanted = parent.unified || resources.tasksMax != nil
            case .cpu: wanted = parent.unified || resources.cpuQuotaPercent != nil || resources.cpuWeight != nil
            case .io: wanted = parent.unified
            }
            if wanted { controllers[controller] = try directory(parent) }
        }
        let cgroup = BuildCgroup(paths: paths, unified: unified, controllers: controllers)
        do throws(ContainmentError) {
            try cgroup.apply(resources)
        } catch {
            cgroup.remove()
            throw error
        }
        return cgroup
    }

    /// A cgroup found again by its stored paths (crash recovery): membership only.
    public init(storedPaths: [String]) {
        paths = storedPaths
        // Only cgroup v2 directories have cgroup.events.
        unified = storedPaths.first.flatMap { access($0 + "/cgroup.events", F_OK) == 0 ? $0 : nil }
        controllers = [:]
    }

    init(paths: [String], unified: String?, controllers: [CgroupController: String]) {
        self.paths = paths
        self.unified = unified
        self.controllers = controllers
    }

    private func isUnified(_ path: String) -> Bool { path == unified }

    /// Writes the limits of `resources` to the controllers' files.
    func apply(_ resources: BuildResources) throws(ContainmentError) {
        func set(
            _ controller: CgroupController, v2 file: String, _ v2Value: String, v1 v1File: String, _ v1Value: String
        )
            throws(ContainmentError)
        {
            guard let path = controllers[controller] else {
                throw ContainmentError(path: nil, errno: 0, action: "limit \(controller.rawValue): no controller")
            }
            let (name, value) = isUnified(path) ? (file, v2Value) : (v1File, v1Value)
            guard CgroupHost.write(value, to: path + "/" + name) else {
                throw ContainmentError(path: path + "/" + name, errno: errno, action: "write '\(value)'")
            }
        }
        if let bytes = resources.memoryMax {
            try set(.memory, v2: "memory.max", "\(bytes)", v1: "memory.limit_in_bytes", "\(bytes)")
            // No swapping around the limit: past it, the build is out of memory.
            if let path = controllers[.memory], isUnified(path) {
                CgroupHost.write("0", to: path + "/memory.swap.max")
            }
        }
        if let percent = resources.cpuQuotaPercent {
            let quota = percent * 1000  // per 100 ms period
            try set(.cpu, v2: "cpu.max", "\(quota) 100000", v1: "cpu.cfs_quota_us", "\(quota)")
        }
        if let weight = resources.cpuWeight {
            // v1 shares: systemd maps weight 100 to 1024.
            try set(.cpu, v2: "cpu.weight", "\(weight)", v1: "cpu.shares", "\(max(2, weight * 1024 / 100))")
        }
        if let tasks = resources.tasksMax {
            try set(.pids, v2: "pids.max", "\(tasks)", v1: "pids.max", "\(tasks)")
        }
    }

    /// What the spawn needs: `cgroup.procs` of every directory (for the child to write itself
    /// into), and the v2 directory itself (to create the child in it, which needs no write).
    struct SpawnFiles: Sendable {
        var procs: [Int32]
        var directory: Int32 = -1
        var directoryIndex: Int32 = -1

        func close() {
            for descriptor in procs + [directory] where descriptor >= 0 { Glibc.close(descriptor) }
        }
    }

    /// Opens the ``SpawnFiles`` (close them after the spawn).
    func openForSpawn() throws(ContainmentError) -> SpawnFiles {
        var files = SpawnFiles(procs: [])
        for path in paths {
            let descriptor = open(path + "/cgroup.procs", O_WRONLY | O_CLOEXEC)
            guard descriptor >= 0 else {
                let code = errno
                files.close()
                throw ContainmentError(path: path + "/cgroup.procs", errno: code, action: "open")
            }
            if path == unified {
                files.directoryIndex = Int32(files.procs.count)
                files.directory = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            }
            files.procs.append(descriptor)
        }
        return files
    }

    /// The processes in the build's cgroup now.
    public func processes() -> [pid_t] {
        guard let path = paths.first, let text = CgroupHost.read(path + "/cgroup.procs") else { return [] }
        return text.split(separator: "\n").compactMap { pid_t($0) }
    }

    /// Some process is still in the build's cgroup.
    public var populated: Bool {
        if let unified, let events = CgroupHost.read(unified + "/cgroup.events") {
            return events.contains("populated 1")
        }
        return !processes().isEmpty
    }

    /// Stops every process in the cgroup: SIGTERM, up to `grace` for them to go, then SIGKILL
    /// (`cgroup.kill` where the kernel has it, which also catches processes forking meanwhile).
    /// Returns how many processes there were.
    @discardableResult
    public func stop(grace: Duration) async -> Int {
        let first = processes()
        guard !first.isEmpty else { return 0 }
        // One SIGTERM per process, as systemd sends: a second one could interrupt a handler
        // that is cleaning up. Children forked since get theirs.
        var signalled = Set<pid_t>()
        func terminate(_ pids: [pid_t]) {
            for pid in pids where signalled.insert(pid).inserted { kill(pid, SIGTERM) }
        }
        terminate(first)
        let deadline = ContinuousClock.now + grace
        var pause = Duration.milliseconds(2)
        while populated, ContinuousClock.now < deadline {
            terminate(processes())
            await uninterruptibleSleep(pause)
            pause = min(pause * 2, .milliseconds(50))
        }
        await killRemaining()
        return first.count
    }

    /// SIGKILL to whatever is left, until the cgroup is empty (bounded: 10 s).
    func killRemaining() async {
        let deadline = ContinuousClock.now + .seconds(10)
        while populated, ContinuousClock.now < deadline {
            if let unified, CgroupHost.write("1", to: unified + "/cgroup.kill") {
                // Atomic for the whole subtree; the processes are gone once their exit ran.
            } else {
                for pid in processes() { kill(pid, SIGKILL) }
            }
            await uninterruptibleSleep(.milliseconds(5))
        }
    }

    /// What the build used, read before the directories go.
    func usage() -> ResourceUsage? {
        var usage = ResourceUsage(source: "cgroup")
        var any = false
        func number(_ path: String) -> Int64? {
            CgroupHost.read(path).flatMap { Int64($0.trimmingBlanks(newlines: true)) }
        }
        func field(_ text: String?, _ name: String) -> Int64? {
            guard let text else { return nil }
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: " ")
                if parts.count == 2, parts[0] == name { return Int64(parts[1]) }
            }
            return nil
        }
        if let unified {
            let stat = CgroupHost.read(unified + "/cpu.stat")
            usage.cpuUserMicroseconds = field(stat, "user_usec")
            usage.cpuSystemMicroseconds = field(stat, "system_usec")
            any = usage.cpuUserMicroseconds != nil
        }
        if let memory = controllers[.memory] {
            if isUnified(memory) {
                usage.memoryPeakBytes = number(memory + "/memory.peak")
                usage.oomKills = field(CgroupHost.read(memory + "/memory.events"), "oom_kill")
            } else {
                usage.memoryPeakBytes = number(memory + "/memory.max_usage_in_bytes")
                usage.oomKills = field(CgroupHost.read(memory + "/memory.oom_control"), "oom_kill")
            }
            any = true
        }
        if let pids = controllers[.pids] { usage.tasksPeak = number(pids + "/pids.peak") }
        if let io = controllers[.io], isUnified(io), let stat = CgroupHost.read(io + "/io.stat") {
            var read: Int64 = 0
            var written: Int64 = 0
            for line in stat.split(separator: "\n") {
                for part in line.split(separator: " ") {
                    if part.hasPrefix("rbytes=") { read += Int64(part.dropFirst(7)) ?? 0 }
                    if part.hasPrefix("wbytes=") { written += Int64(part.dropFirst(7)) ?? 0 }
                }
            }
            (usage.ioReadBytes, usage.ioWriteBytes) = (read, written)
        }
        return any ? usage : nil
    }

    /// Removes the directories (retrying briefly: a v1 cgroup stays busy until its last exited
    /// process is released). Returns false if one could not be removed.
    @discardableResult
    public func remove() -> Bool {
        var removedAll = true
        for path in paths.reversed() {
            var attempts = 0
            while rmdir(path) != 0 {
                if errno == ENOENT { break }  // gone already
                guard errno == EBUSY, attempts < 200 else {
                    removedAll = false
                    break
                }
                attempts += 1
                usleep(1000)
            }
        }
        return removedAll
    }
}

/// A cgroup file the daemon could not create or write, with the path and errno.
public struct ContainmentError: Error, CustomStringConvertible, Sendable {
    public var path: String?
    public var errno: Int32
    public var action: String

    public var description: String {
        var text = "cannot \(action)"
        if let path { text += " \(path)" }
        if errno != 0 { text += ": \(String(cString: strerror(errno)))" }
        return text
    }
}
