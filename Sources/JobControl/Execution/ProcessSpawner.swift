import CLinux
import Foundation

/// Starts a build's command with posix_spawn(3): glibc's is a vfork-style clone, so the
/// daemon's memory is not copied. The child leads a new process group, has default signal
/// dispositions and an empty mask, reads /dev/null, writes to two pipes, and inherits no other
/// descriptor.
///
/// This replaced swift-subprocess on the per-build path (issue 19): its spawn thread, monitor
/// thread and I/O thread cost a fifth of the daemon's CPU per `/bin/true` build.
enum ProcessSpawner {
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

        var reason: String {
            switch self {
            case .executableNotFound: return "no such executable (searched PATH)"
            case .nulByte(let what): return "\(what) contains a NUL byte, which a process cannot be given"
            case .system(let code): return String(cString: strerror(code))
            }
        }
    }

    enum Termination {
        case exited(Int32)
        case signaled(Int32)
    }

    /// The daemon's own environment, read once: what every build inherits before its own
    /// variables (reading it copies all of it).
    static let inherited = ProcessInfo.processInfo.environment

    /// Spawns `argv` (argv[0] searched on the `PATH` of `environment` when it has no '/') with
    /// exactly `environment`, in `workingDirectory` when given.
    static func spawn(argv: [String], environment: [String: String], workingDirectory: String?) throws(Failure)
        -> Spawned
    {
        // C strings end at the first NUL: refuse rather than pass a silently shortened value.
        if let index = argv.firstIndex(where: { $0.utf8.contains(0) }) {
            throw .nulByte(index == 0 ? "the program name" : "argument \(index)")
        }
        if let name = environment.first(where: { $0.value.utf8.contains(0) })?.key {
            throw .nulByte("environment variable \(name)")
        }
        guard let path = resolve(argv[0], path: environment["PATH"] ?? "/usr/bin:/bin") else {
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
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, stderrPipe[1], 2)
        posix_spawn_file_actions_addclosefrom_np(&actions, 3)
        if let workingDirectory { posix_spawn_file_actions_addchdir_np(&actions, workingDirectory) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let arguments = argv.map { strdup($0) } + [nil]
        defer { arguments.forEach { free($0) } }
        let variables = environment.map { strdup($0.key + "=" + $0.value) } + [nil]
        defer { variables.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, arguments, variables)
        guard rc == 0 else {
            for fd in [stdoutPipe[0], stderrPipe[0]] { close(fd) }
            throw .system(rc)
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

    /// ``spawn(argv:environment:workingDirectory:)`` on ``spawnQueue``.
    static func spawnOffPool(argv: [String], environment: [String: String], workingDirectory: String?)
        async throws(Failure) -> Spawned
    {
        let result = await withCheckedContinuation {
            (continuation: CheckedContinuation<Result<Spawned, Failure>, Never>) in
            spawnQueue.async {
                continuation.resume(
                    returning: Result { () throws(Failure) -> Spawned in
                        try spawn(argv: argv, environment: environment, workingDirectory: workingDirectory)
                    })
            }
        }
        return try result.get()
    }

    /// Not cancellable: a cancelled build's process group is being torn down, and its end is
    /// what the build waits for.
    static func waitForExit(_ spawned: Spawned) async -> Termination {
        var code: Int32 = 0
        var status: Int32 = 0
        // Usually the process has exited by the time its pipes reached their end: reap it at once.
        var rc = jobcontrol_pidfd_reap(spawned.pidfd, 1, &code, &status)
        if rc != 0 || code == 0 {
            // The pidfd is readable only once the process has exited, so this reap does not block.
            await ProcessEvents.shared.readable(spawned.pidfd, cancellable: false)
            rc = jobcontrol_pidfd_reap(spawned.pidfd, 0, &code, &status)
        }
        ProcessEvents.shared.forget(spawned.pidfd)
        close(spawned.pidfd)
        guard rc == 0 else { return .exited(-1) }
        return code == CLD_EXITED ? .exited(status) : .signaled(status)
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
