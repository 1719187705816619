import Dispatch
import FoundationEssentials
import Glibc
import Synchronization

/// The built-in functions that run commands: `jobcontrol:exec` and `jobcontrol:shell`.
///
/// The command runs in its own process group (so a later teardown can signal all of it); its
/// stdout lines are logged at INFO and its stderr lines at WARNING, as they arrive; its exit status
/// decides success. Resolved `kwargs` reach it as one JSON object in `JOBCONTROL_KWARGS`.
enum CommandFunction {
    /// How many trailing stderr lines a failure keeps in the build's exception.
    static let stderrTailLines = 20

    static let exec: JobFunction = { context, args, kwargs in
        guard !args.isEmpty else {
            throw BuildException(type: "BadArguments", message: "\(FunctionRegistry.exec) needs the argv as its args")
        }
        return try await run(argv: args.map(\.argumentText), context: context, kwargs: kwargs)
    }

    static let shell: JobFunction = { context, args, kwargs in
        guard let script = args.first?.stringValue else {
            throw BuildException(
                type: "BadArguments", message: "\(FunctionRegistry.shell) needs a script string as its first arg")
        }
        // "$0" is "sh"; the job's further args are "$1", "$2", …
        let argv = ["/bin/sh", "-c", script, "sh"] + args.dropFirst().map(\.argumentText)
        return try await run(argv: argv, context: context, kwargs: kwargs)
    }

    /// `extraEnvironment` goes over everything else (Python functions pass their runner's).
    static func run(
        argv: [String], context: BuildContext, kwargs: [String: JSONValue], extraEnvironment: [String: String] = [:]
    ) async throws -> JSONValue? {
        // Another user or group: setpriv(1) switches identity after exec, in a process with one
        // thread. Switching in the forked child of this many-threaded daemon (setgroups/setuid
        // there) can deadlock in glibc's setxid broadcast, leaving the build hanging (seen in tests).
        let spawned = try identityPrefix(context.settings) + argv
        // Over the daemon's own environment (``ProcessSpawner/inheritedEntries``): the job's
        // variables, ours over them, PATH, then `extraEnvironment`.
        var environment = context.settings.environment
        environment.merge([
            "JOBCONTROL_BUILD_ID": String(context.buildID),
            "JOBCONTROL_JOB_ID": context.jobID,
            "JOBCONTROL_KWARGS": JSONValue.object(kwargs).jsonText(),
        ]) { _, ours in ours }
        if let socket = context.socketPath {
            environment["JOBCONTROL_SOCKET"] = socket
            environment["JOBCONTROL_BUILD_SOCKET"] = ControlSocketPath.builds(beside: socket)
        }
        if let token = context.token { environment["JOBCONTROL_TOKEN"] = token }
        if let helperPath, context.settings.environment["PATH"] == nil {
            environment["PATH"] = helperPath
        }
        environment.merge(extraEnvironment) { _, extra in extra }
        // Under setpriv, a missing program would be setpriv's exit 127 (CommandFailed); looked
        // up here, it is the SpawnFailed every other build gets.
        if spawned.count > argv.count, let program = argv.first {
            let path = environment["PATH"] ?? ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
            let found = ProcessSpawner.resolve(program, path: path)
            guard let found, access(found, X_OK) == 0 else {
                throw BuildException(
                    type: "SpawnFailed",
                    message: "cannot start '\(program)': \(String(cString: strerror(found == nil ? ENOENT : errno)))",
                    details: ["argv": .array(argv.map { .string($0) })])
            }
        }

        let resources = context.settings.resources
        let workingDirectory = context.settings.workingDirectory
        let childEnvironment = environment
        // The cgroup's directories are made where the spawn runs: off the cooperative threads
        // (mkdir in cgroupfs blocks on the kernel's cgroup lock).
        let (process, cgroup) = try await ProcessSpawner.offPool {
            () throws -> (ProcessSpawner.Spawned, BuildCgroup?) in
            let cgroup = try makeCgroup(context)
            do {
                let files = try cgroup?.openForSpawn()
                defer { files?.close() }
                let process = try ProcessSpawner.spawn(
                    argv: spawned, environment: childEnvironment, overInherited: true,
                    workingDirectory: workingDirectory,
                    setup: .init(cgroup: files, resources: resources))
                return (process, cgroup)
            } catch {
                cgroup?.remove()
                let reason = (error as? ProcessSpawner.Failure)?.reason ?? "\(error)"
                throw BuildException(
                    type: "SpawnFailed",
                    message: "cannot start '\(argv[0])': \(reason)",
                    details: ["argv": .array(argv.map { .string($0) })])
            }
        }
        let leaderStart = ProcessGroups.startTicks(of: process.pid)
        context.recordProcess(group: process.pid, startTicks: leaderStart, cgroup: cgroup?.paths)
        let keep = resources.effectiveLeftovers == .keep
        let buildID = context.buildID
        // One stop of the build's processes, whether a cancel or the command's exit asks first.
        let teardown = Teardown { await stopLeftovers(cgroup: cgroup, processGroup: process.pid, buildID: buildID) }
        // On cancellation (timeout, cancel, shutdown) the whole build goes: its cgroup (or, with
        // `leftovers: keep` or without cgroups, its process group), SIGTERM and SIGKILL after the
        // grace period to whatever ignores it.
        let (stderrTail, termination, processUsage) = await withTaskCancellationHandler {
            let pipes = OpenPipes([process.stdout, process.stderr])
            async let exit = exited(process, keep: keep, teardown: teardown, pipes: pipes)
            let tail = await pumpBoth(process, context: context, pipes: pipes)
            let (termination, usage) = await exit
            return (tail, termination, usage)
        } onCancel: {
            if keep {
                terminate(processGroup: process.pid, leaderStart: leaderStart)
            } else {
                teardown.startOnCancel()
            }
        }
        // The command and what it started are gone: the worker is free (unless a timeout or a
        // cancel already stopped the build: its end comes when it has been recorded as such).
        if !keep, !Task.isCancelled { context.worker?.release() }
        context.reportDroppedLog()
        let usage = ResourceUsage.combined(cgroup?.usage(), processUsage)
        if let usage { context.recordUsage(usage) }
        if let cgroup { release(cgroup, keep: keep, context: context) }
        var details: [String: JSONValue] = [
            "argv": .array(argv.map { .string($0) }),
            "stderr_tail": .array(stderrTail.map { .string($0) }),
        ]
        let type: String
        let message: String
        if let oomKills = usage?.oomKills, oomKills > 0, !isSuccess(termination) {
            let limit =
                resources.memoryMax.map { "killed at memory limit \(ByteSize.text($0))" } ?? "killed out of memory"
            let peak = usage?.memoryPeakBytes.map { ", peak \(ByteSize.human($0))" } ?? ""
            details["oom_kills"] = .int(oomKills)
            throw BuildException(
                type: "OutOfMemory",
                message:
                    "\(limit)\(peak): the kernel's OOM killer stopped \(oomKills) process\(oomKills == 1 ? "" : "es") of the build; raise memory_max or make the job use less",
                details: details,
                traceback: commandTraceback(
                    argv: argv, workingDirectory: context.settings.workingDirectory, details: details,
                    stderrTail: stderrTail))
        }
        switch termination {
        case .exited(0):
            return nil
        case .exited(let code):
            details["exit_status"] = .int(Int64(code))
            (type, message) = ("CommandFailed", "'\(argv[0])' exited with status \(code)")
        case .signaled(let signal):
            details["signal"] = .int(Int64(signal))
            (type, message) = (
                "CommandKilled", "'\(argv[0])' was killed by signal \(signal) (\(String(cString: strsignal(signal))))"
            )
        }
        throw BuildException(
            type: type, message: message, details: details,
            traceback: commandTraceback(
                argv: argv, workingDirectory: context.settings.workingDirectory, details: details,
                stderrTail: stderrTail))
    }

    /// The directory of the running executable when `jobctl` sits beside it (an installation, or
    /// a build tree): put first on a build's PATH so the in-build helpers are the daemon's own.
    static let helperDirectory: String? = {
        guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else {
            return nil
        }
        let directory = executable.parentPath
        return FileManager.default.isExecutableFile(atPath: directory + "/jobctl") ? directory : nil
    }()

    /// The daemon's PATH with the helpers' directory first, computed once (reading the process
    /// environment copies all of it, which showed in the profile of a build's hot path).
    static let helperPath: String? = helperDirectory.map {
        $0 + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
    }

    /// How long a process group gets between SIGTERM and SIGKILL.
    static let terminationGrace: Duration = .seconds(5)

    /// After the command and its leftovers are gone, how long output still open elsewhere is
    /// waited for before what is buffered is read and the pipes are closed.
    static let leftoverOutputWait: Duration = .seconds(1)
    /// The same when nothing of the build was left running (normally the pipes have ended).
    static let nothingLeftOutputWait: Duration = .seconds(5)

    static func isSuccess(_ termination: ProcessSpawner.Termination) -> Bool {
        if case .exited(0) = termination { return true }
        return false
    }

    /// The build's cgroups, when the daemon has them.
    static func makeCgroup(_ context: BuildContext) throws -> BuildCgroup? {
        guard let host = context.settings.cgroups else { return nil }
        do {
            return try BuildCgroup.create(buildID: context.buildID, host: host, resources: context.settings.resources)
        } catch {
            throw BuildException(
                type: "ContainmentFailed",
                message: "cannot set up the build's cgroup (\(error)); the command was not started")
        }
    }

    /// Stops what is still running of a build whose command has exited: everything in its
    /// cgroup, or without one, the rest of its process group. SIGTERM, then SIGKILL after the
    /// grace period.
    /// Returns whether anything was left.
    @discardableResult
    static func stopLeftovers(cgroup: BuildCgroup?, processGroup: pid_t, buildID: Int64) async -> Bool {
        if let cgroup {
            guard cgroup.populated else { return false }
            await cgroup.stop(grace: terminationGrace)
            return true
        }
        // Without a cgroup: the rest of the process group, and what left it (setsid) but was
        // reparented to the daemon (the child subreaper), each with its own group. Only the
        // group is asked after the command, whose own pid was reaped and may be anyone's now;
        // a group's number stays reserved while a process is in it. A group or orphan found
        // gone is dropped for good, so a number reused meanwhile is never signalled; orphans
        // reparented later (a grandchild whose parent the SIGTERM ended) join in.
        var groups = [processGroup] + OrphanReaper.adopted(fromBuild: buildID)
        func isAlive(_ group: pid_t) -> Bool { kill(-group, 0) == 0 || (group != processGroup && kill(group, 0) == 0) }
        groups = groups.filter(isAlive)
        guard !groups.isEmpty else { return false }
        func terminate(_ targets: [pid_t]) {
            for group in targets {
                kill(-group, SIGTERM)
                if group != processGroup { kill(group, SIGTERM) }
            }
        }
        terminate(groups)
        let deadline = ContinuousClock.now + terminationGrace
        while !groups.isEmpty, ContinuousClock.now < deadline {
            await uninterruptibleSleep(.milliseconds(20))
            OrphanReaper.reapAdopted()  // a stopped orphan is a zombie until reaped here
            groups = groups.filter(isAlive)
            let newcomers = OrphanReaper.adopted(fromBuild: buildID).filter { !groups.contains($0) }
            terminate(newcomers)
            groups += newcomers
        }
        var killed = groups.filter(isAlive)
        for group in killed {
            kill(-group, SIGKILL)
            if group != processGroup { kill(group, SIGKILL) }
        }
        // `kill` returns before they have exited: the build's end (and a retry, or the job's
        // next build, after it) waits until they are gone, as a cgroup's stop does; bounded, as
        // one in uninterruptible sleep exits only when its sleep ends.
        await ProcessGroups.waitUntil(within: ProcessGroups.killWait) {
            OrphanReaper.reapAdopted()
            killed = killed.filter(isAlive)
            return killed.isEmpty
        }
        return true
    }

    /// Waits for the command's exit, then stops what it left running (unless kept); if its
    /// pipes are still held open after that (by something kept, or a process that escaped
    /// without a cgroup) for `leftoverOutputWait`, their readers take what is buffered and stop.
    static func exited(_ process: ProcessSpawner.Spawned, keep: Bool, teardown: Teardown, pipes: OpenPipes) async
        -> (ProcessSpawner.Termination, ResourceUsage?)
    {
        let result = await ProcessSpawner.waitForExit(process)
        var wait = keep ? Duration.milliseconds(100) : leftoverOutputWait
        if !keep, await !teardown.run() {
            // Nothing was left: the pipes reach their end on their own (the usual case, no timer
            // needed), unless a process outside the build (moved to another cgroup, say by su's
            // PAM session) still holds one: then it is waited for, but not for ever.
            if pipes.writersGone() { return result }
            wait = nothingLeftOutputWait
        }
        if await !pipes.allClosed(within: wait) { pipes.interruptOpen() }
        return result
    }

    /// Removes the build's cgroups; with `leftovers: keep`, a cgroup still holding processes
    /// stays (their home), and the build's log says where.
    static func release(_ cgroup: BuildCgroup, keep: Bool, context: BuildContext) {
        if keep {
            let left = cgroup.processes()
            if !left.isEmpty {
                context.log(
                    .info,
                    "leftovers: keep: \(left.count) process\(left.count == 1 ? "" : "es") left running in \(cgroup.paths[0])"
                )
                return
            }
        }
        // Off the build's path: the directories are empty, nothing waits for their removal.
        let logger = context.logger
        ProcessSpawner.spawnQueue.async {
            if !cgroup.remove() {
                logger.warning("cannot remove the build's cgroup", metadata: ["cgroup": "\(cgroup.paths)"])
            }
        }
    }

    /// SIGTERM to every process of the group now, SIGKILL to whatever is left after the grace
    /// period. The group is watched meanwhile and left alone once it is empty: its number is
    /// free then, and may already lead an unrelated group (a later build's command). A number
    /// whose leader is now another process (`leaderStart` differs) is such a group too: a
    /// watcher held up for seconds (a starved daemon) may never have seen the group empty.
    static func terminate(processGroup: pid_t, leaderStart: Int64?) {
        kill(-processGroup, SIGTERM)
        Task.detached {
            func stillTheBuilds() -> Bool {
                guard kill(-processGroup, 0) == 0 else { return false }
                return leaderStart.map { !ProcessGroups.numberTaken(group: processGroup, startTicks: $0) } ?? true
            }
            let deadline = ContinuousClock.now + terminationGrace
            while ContinuousClock.now < deadline {
                guard stillTheBuilds() else { return }
                try? await Task.sleep(for: .milliseconds(50))
            }
            // Looked at once more: the watcher may have been held up past the deadline.
            guard stillTheBuilds() else { return }
            kill(-processGroup, SIGKILL)
        }
    }

    /// Reads stdout and stderr to their ends (or until cancelled), then closes them; returns
    /// stderr's last lines.
    static func pumpBoth(_ process: ProcessSpawner.Spawned, context: BuildContext, pipes: OpenPipes) async -> [String] {
        async let stdout = pump(process.stdout, level: .info, logger: "stdout", context: context, pipes: pipes)
        async let stderr = pump(process.stderr, level: .warning, logger: "stderr", context: context, pipes: pipes)
        _ = await stdout
        return await stderr
    }

    /// `setpriv` with the user and group to run as, looked up now (a user removed since the
    /// configuration was loaded fails this build with a clear error); empty to run as the daemon.
    /// The supplementary groups become just the group: the daemon's own are dropped.
    static func identityPrefix(_ settings: ExecutionSettings) throws -> [String] {
        guard settings.user != nil || settings.group != nil else { return [] }
        var prefix = [setpriv]
        var gid: gid_t?
        if let user = settings.user {
            guard let entry = UserDatabase.user(named: user) else {
                throw BuildException(type: "NoSuchUser", message: "user '\(user)' does not exist on this host")
            }
            prefix.append("--reuid=\(entry.uid)")
            gid = entry.gid
        }
        if let group = settings.group {
            guard let entry = UserDatabase.group(named: group) else {
                throw BuildException(type: "NoSuchGroup", message: "group '\(group)' does not exist on this host")
            }
            gid = entry
        }
        if let gid { prefix += ["--regid=\(gid)", "--groups=\(gid)"] }
        return prefix + ["--"]
    }

    /// util-linux's setpriv(1).
    static let setpriv = "/usr/bin/setpriv"

    /// The seed's traceback model for a command: one frame naming the program, the command line,
    /// the last lines of stderr as context, and the working directory and outcome as "locals".
    static func commandTraceback(
        argv: [String], workingDirectory: String?, details: [String: JSONValue], stderrTail: [String]
    )
        -> TracebackInfo
    {
        var locals = ["cwd": workingDirectory ?? FileManager.default.currentDirectoryPath]
        for key in ["exit_status", "signal"] { if let value = details[key] { locals[key] = value.jsonText() } }
        return TracebackInfo(frames: [
            .init(
                filename: argv[0], function: "command", line: argv.map(shellQuoted).joined(separator: " "),
                context: stderrTail, locals: locals)
        ])
    }

    static func shellQuoted(_ word: String) -> String {
        let safe = word.unicodeScalars.allSatisfy {
            $0.isASCIIAlphanumeric || "-_./=:,+@%".unicodeScalars.contains($0)
        }
        return safe && !word.isEmpty ? word : "'" + word.replacing("'", with: "'\\''") + "'"
    }

    /// Logs each line read from `fd` (non-blocking) as it arrives, until its end or
    /// cancellation; closes it; returns the last lines (for stderr's tail).
    static func pump(_ fd: Int32, level: LogLevel, logger: String, context: BuildContext, pipes: OpenPipes)
        async -> [String]
    {
        var splitter = LineSplitter()
        var tail: [String] = []
        func take(_ lines: [LineSplitter.Line]) {
            guard !lines.isEmpty else { return }
            context.record(output: lines, level: level, logger: logger)
            tail.append(contentsOf: lines.suffix(stderrTailLines).map { String($0.text.prefix(2048)) })
            if tail.count > stderrTailLines { tail.removeFirst(tail.count - stderrTailLines) }
        }
        // Interrupted (the command has exited, but something still holds the pipe open): what is
        // buffered is still read (a pipe's worth, not what a kept writer goes
        // on producing), then the pipe is closed.
        var drained = 0
        reading: while true {
            // errno taken right after the read, before anything else can change it. The chunk is
            // read into scratch space on the thread's stack and split into lines before anything
            // can suspend: no 64 KiB buffer allocated and zeroed per pipe and build.
            let (count, error, lines) = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 65_536) { bytes in
                let count = read(fd, bytes.baseAddress, bytes.count)
                let error = count < 0 ? errno : 0
                let lines = count > 0 ? splitter.feed(UnsafeBufferPointer(rebasing: bytes[0..<count])) : []
                return (count, error, lines)
            }
            switch count {
            case 0:
                break reading
            case ..<0 where error == EAGAIN:
                if ProcessEvents.shared.isInterrupted(fd) { break reading }
                // Not cancellable: a cancelled build's output is read to its end too (what its
                // command prints while it is being stopped); ``exited`` interrupts the wait if
                // something holds the pipe open past the teardown.
                await ProcessEvents.shared.readable(fd, cancellable: false)
            case ..<0 where error == EINTR:
                continue
            case ..<0:
                context.logger.warning(
                    "cannot read the command's \(logger)", metadata: ["error": "\(String(cString: strerror(error)))"])
                break reading
            default:
                take(lines)
                if ProcessEvents.shared.isInterrupted(fd) {
                    drained += count
                    if drained > 1 << 20 { break reading }
                }
                // Backpressure: while storage is behind, stop reading; the command then blocks
                // on its full pipe instead of the daemon's memory growing.
                if !lines.isEmpty, !Task.isCancelled { await context.storage.waitForWriteCapacity() }
            }
        }
        let last = splitter.finish()
        if !last.isEmpty { take(last) }
        pipes.closing(fd)
        ProcessEvents.shared.forget(fd)
        close(fd)
        return tail
    }
}
