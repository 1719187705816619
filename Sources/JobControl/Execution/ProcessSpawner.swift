import CLinux
import Dispatch
import FoundationEssentials
import Glibc

/// Starts a build's command as posix_spawn(3) does (`jobcontrol_spawn` in CLinux: a vfork-style
/// clone, so the daemon's memory is not copied), with one step posix_spawn cannot take: the child
/// joins its build's cgroups before it execs. The child leads a new process group, has default
/// signal dispositions and an empty mask, reads /dev/null, writes to two pipes, and inherits no
/// other descriptor.
///
/// This replaced swift-subprocess on the per-build path (issue 19): its spawn thread, monitor
/// thread and I/O thread cost a fifth of the daemon's CPU per `/bin/true` build.
public enum ProcessSpawner {
    struct Spawned {
        let pid: pid_t
        /// Readable once the process exits (``ProcessEvents``); reaped by ``reap(_:)``.
        let pidfd: Int32
        /// Non-blocking read ends of the command's stdout and stderr.
        let stdout: Int32
        let stderr: Int32
    }

    enum Failure: Error {
        case executableNotFound
        case nulByte(String)
        case system(Int32)
        /// A step of the child's set-up failed (``Setup``): joining its cgroup, a limit, …
        case setup(String, Int32)

        init(step: Int32, code: Int32) {
            switch UInt32(step) {
            case JOBCONTROL_SPAWN_CGROUP.rawValue: self = .setup("cannot join the build's cgroup", code)
            case JOBCONTROL_SPAWN_RLIMIT.rawValue: self = .setup("cannot set limit_nofile or limit_core", code)
            case JOBCONTROL_SPAWN_NICE.rawValue:
                self = .setup("cannot set the nice level (raising priority needs root)", code)
            case JOBCONTROL_SPAWN_CHDIR.rawValue: self = .setup("cannot enter the working directory", code)
            case JOBCONTROL_SPAWN_STDIO.rawValue: self = .setup("cannot set up stdin, stdout and stderr", code)
            default: self = .system(code)
            }
        }

        var reason: String {
            switch self {
            case .executableNotFound: return "no such executable (searched PATH)"
            case .nulByte(let what): return "\(what) contains a NUL byte, which a process cannot be given"
            case .system(let code): return String(cString: strerror(code))
            case .setup(let what, let code): return "\(what): \(String(cString: strerror(code)))"
            }
        }
    }

    enum Termination {
        case exited(Int32)
        case signaled(Int32)
    }

    /// The daemon's own environment, read once: what every build inherits before its own
    /// variables (reading it copies all of it), less what the service manager meant for the
    /// daemon alone. With `NOTIFY_SOCKET` and `WATCHDOG_PID`, a build's sd_notify-aware tool
    /// took itself for the service (under `NotifyAccess=all` it could change the service's state).
    static let inherited = ProcessInfo.processInfo.environment.filter { !serviceManagerVariables.contains($0.key) }

    static let serviceManagerVariables: Set<String> = [
        "NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "MAINPID",
    ]

    /// ``inherited`` as the `NAME=value` C strings a child's environment block is made of, made
    /// once for the life of the process: a build's spawn copies only its own variables, not the
    /// forty-odd it inherits.
    static let inheritedEntries = InheritedEntries(inherited)

    /// Ownership: the C strings are allocated in `init` and never written or freed after it (the
    /// value lives as long as the process), so sharing the pointers between threads is sound.
    struct InheritedEntries: @unchecked Sendable {
        let entries: [(name: String, entry: UnsafeMutablePointer<CChar>)]

        init(_ environment: [String: String]) {
            entries = environment.sorted { $0.key < $1.key }.compactMap { name, value in
                guard !name.utf8.contains(0), !value.utf8.contains(0), let entry = strdup(name + "=" + value) else {
                    return nil
                }
                return (name, entry)
            }
        }
    }

    /// What the child does between its clone and its exec, besides the usual: join cgroups,
    /// take limits.
    struct Setup: Sendable {
        /// `cgroup.procs` files to write itself into (``BuildCgroup/openProcsFiles()``).
        var cgroupFiles: [Int32] = []
        /// The v2 cgroup directory to create the child in (clone3), and its entry in
        /// `cgroupFiles`; -1 when there is none.
        var cgroupDirectory: Int32 = -1
        var cgroupDirectoryIndex: Int32 = -1
        /// (RLIMIT_*, soft and hard value)
        var rlimits: [(Int32, UInt64)] = []
        var nice: Int?

        init(cgroup: BuildCgroup.SpawnFiles? = nil, resources: BuildResources = BuildResources()) {
            if let cgroup {
                cgroupFiles = cgroup.procs
                cgroupDirectory = cgroup.directory
                cgroupDirectoryIndex = cgroup.directoryIndex
            }
            if let files = resources.limitNOFILE { rlimits.append((Int32(RLIMIT_NOFILE.rawValue), files)) }
            if let core = resources.limitCORE { rlimits.append((Int32(RLIMIT_CORE.rawValue), core)) }
            nice = resources.nice
        }
    }

    /// From now on the commands' exit signals (SIGCHLD) are dropped by the kernel rather than
    /// queued for some thread that does not block them (the daemon's main thread, woken once per
    /// build). Only for a process that handles no SIGCHLD itself: false, and nothing changes, when
    /// it has a handler now. Exits are learned from pidfds either way. An ignored SIGCHLD, which
    /// would have the kernel reap every command before its status is read, is reset first.
    @discardableResult
    public static func dropChildSignals() -> Bool {
        jobcontrol_spawn_drop_child_signals() != 0
    }

    /// Spawns `argv` (argv[0] searched on the `PATH` of the child's environment when it has no
    /// '/') with exactly `environment`, or with ``inherited`` overridden by `environment` when
    /// `overInherited`, in `workingDirectory` when given. `stdin`: a descriptor the command reads
    /// (the caller keeps and closes it), or -1 for /dev/null.
    static func spawn(
        argv: [String], environment: [String: String], overInherited: Bool = false, workingDirectory: String?,
        setup: Setup = Setup(), stdin: Int32 = -1
    ) throws(Failure) -> Spawned {
        // C strings end at the first NUL: refuse rather than pass a silently shortened value.
        if let index = argv.firstIndex(where: { $0.utf8.contains(0) }) {
            throw .nulByte(index == 0 ? "the program name" : "argument \(index)")
        }
        if let name = environment.first(where: { $0.value.utf8.contains(0) })?.key {
            throw .nulByte("environment variable \(name)")
        }
        let searchPath = environment["PATH"] ?? (overInherited ? inherited["PATH"] : nil) ?? "/usr/bin:/bin"
        guard let path = resolve(argv[0], path: searchPath) else {
            throw .executableNotFound
        }
        var stdoutPipe: [Int32] = [-1, -1]
        var stderrPipe: [Int32] = [-1, -1]
        guard pipe2(&stdoutPipe, O_CLOEXEC) == 0 else { throw .system(errno) }
        guard pipe2(&stderrPipe, O_CLOEXEC) == 0 else {
            let code = errno
            close(stdoutPipe[0])
            close(stdoutPipe[1])
            throw .system(code)
        }
        defer {
            close(stdoutPipe[1])
            close(stderrPipe[1])
        }
        let arguments = argv.map { strdup($0) } + [nil]
        defer { arguments.forEach { free($0) } }
        let own = environment.map { strdup($0.key + "=" + $0.value) }
        defer { own.forEach { free($0) } }
        var variables: [UnsafeMutablePointer<CChar>?] = []
        if overInherited {
            variables.reserveCapacity(Self.inheritedEntries.entries.count + own.count + 1)
            for (name, entry) in Self.inheritedEntries.entries where environment[name] == nil {
                variables.append(entry)
            }
        }
        variables += own
        variables.append(nil)
        let limits = setup.rlimits.map { jobcontrol_rlimit(resource: $0.0, value: $0.1) }
        var pid: pid_t = 0
        var step: Int32 = 0
        let rc = path.withCString { pathPointer in
            (workingDirectory ?? "").withCString { directoryPointer in
                setup.cgroupFiles.withUnsafeBufferPointer { cgroupFiles in
                    limits.withUnsafeBufferPointer { rlimits in
                        arguments.withUnsafeBufferPointer { argvPointer in
                            variables.withUnsafeBufferPointer { envpPointer in
                                var request = jobcontrol_spawn_request(
                                    path: pathPointer, argv: argvPointer.baseAddress, envp: envpPointer.baseAddress,
                                    working_directory: workingDirectory == nil ? nil : directoryPointer,
                                    stdout_fd: stdoutPipe[1], stderr_fd: stderrPipe[1], stdin_fd: stdin,
                                    cgroup_fds: cgroupFiles.baseAddress, cgroup_fd_count: Int32(cgroupFiles.count),
                                    cgroup_dir_fd: setup.cgroupDirectory,
                                    cgroup_dir_procs_index: setup.cgroupDirectoryIndex,
                                    rlimits: rlimits.baseAddress, rlimit_count: Int32(rlimits.count),
                                    set_nice: setup.nice == nil ? 0 : 1, nice: Int32(setup.nice ?? 0))
                                // Registered with the orphan reaper (subreaper mode) as it starts.
                                var rc: Int32 = 0
                                _ = OrphanReaper.spawning {
                                    rc = jobcontrol_spawn(&request, &pid, &step)
                                    return rc == 0 ? pid : nil
                                }
                                return rc
                            }
                        }
                    }
                }
            }
        }
        guard rc == 0 else {
            for fd in [stdoutPipe[0], stderrPipe[0]] { close(fd) }
            throw Failure(step: step, code: rc)
        }
        let pidfd = jobcontrol_pidfd_open(pid)
        guard pidfd >= 0 else {
            // Cannot happen on the kernels we support (5.3+); do not leave the child unwatched.
            let code = errno
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            for fd in [stdoutPipe[0], stderrPipe[0]] { close(fd) }
            throw .system(code)
        }
        for fd in [stdoutPipe[0], stderrPipe[0]] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        return Spawned(pid: pid, pidfd: pidfd, stdout: stdoutPipe[0], stderr: stderrPipe[0])
    }

    /// Waits (without blocking a thread) until the process has exited, reaps it and closes its
    /// pidfd.
    /// The queue spawns run on: posix_spawn blocks its caller until the child has exec'd (a
    /// vfork), a few hundred microseconds that must not hold one of the few cooperative threads.
    static let spawnQueue = DispatchQueue(label: "io.jobcontrol.spawn", attributes: .concurrent)

    /// `body` (a spawn, and the set-up it needs) on ``spawnQueue``.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await spawnQueue.perform(body)
    }

    /// Not cancellable: a cancelled build's process group is being torn down, and its end is
    /// what the build waits for.
    static func waitForExit(_ spawned: Spawned) async -> (Termination, ResourceUsage?) {
        var code: Int32 = 0
        var status: Int32 = 0
        var resources = rusage()
        // Usually the process has exited by the time its pipes reached their end: reap it at once.
        var rc = jobcontrol_pidfd_reap(spawned.pidfd, 1, &code, &status, &resources)
        if rc != 0 || code == 0 {
            // The pidfd is readable only once the process has exited, so this reap does not block.
            await ProcessEvents.shared.readable(spawned.pidfd, cancellable: false)
            rc = jobcontrol_pidfd_reap(spawned.pidfd, 0, &code, &status, &resources)
        }
        ProcessEvents.shared.forget(spawned.pidfd)
        close(spawned.pidfd)
        OrphanReaper.reaped(spawned.pid)
        guard rc == 0 else { return (.exited(-1), nil) }
        // What the kernel counted for the command and the children it waited for: the figures
        // of a build without a cgroup.
        var usage = ResourceUsage(source: "rusage")
        usage.cpuUserMicroseconds = Int64(resources.ru_utime.tv_sec) * 1_000_000 + Int64(resources.ru_utime.tv_usec)
        usage.cpuSystemMicroseconds =
            Int64(resources.ru_stime.tv_sec) * 1_000_000 + Int64(resources.ru_stime.tv_usec)
        usage.memoryPeakBytes = Int64(resources.ru_maxrss) * 1024
        return (code == CLD_EXITED ? .exited(status) : .signaled(status), usage)
    }

    /// `name` as a path to execute: itself when it contains '/', else the first executable
    /// regular file of that name on `path`.
    static func resolve(_ name: String, path: String) -> String? {
        if name.utf8.contains(UInt8(ascii: "/")) { return name }
        for directory in path.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (directory.isEmpty ? "." : String(directory)) + "/" + name
            var info = stat()
            if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }
}
