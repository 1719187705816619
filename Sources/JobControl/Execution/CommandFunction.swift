import Foundation
import Subprocess
import SystemPackage

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

    static func run(argv: [String], context: BuildContext, kwargs: [String: JSONValue]) async throws -> JSONValue? {
        // Another user or group: setpriv(1) switches identity after exec, in a process with one
        // thread. Switching in the forked child of this many-threaded daemon (setgroups/setuid
        // there) can deadlock in glibc's setxid broadcast, leaving the build hanging (seen in tests).
        let spawned = try identityPrefix(context.settings) + argv
        // (Bytes, not Foundation's String.contains: that goes through NSString and showed per build.)
        let executable: Executable =
            spawned[0].utf8.contains(UInt8(ascii: "/")) ? .path(FilePath(spawned[0])) : .name(spawned[0])
        var environment: [Environment.Key: String?] = [:]
        for (name, value) in context.settings.environment {
            if let key = Environment.Key(rawValue: name) { environment[key] = value }
        }
        environment.merge([
            "JOBCONTROL_BUILD_ID": String(context.buildID),
            "JOBCONTROL_JOB_ID": context.jobID,
            "JOBCONTROL_KWARGS": JSONValue.object(kwargs).jsonText(),
        ]) { _, ours in ours }
        if let socket = context.socketPath { environment["JOBCONTROL_SOCKET"] = socket }
        if let token = context.token { environment["JOBCONTROL_TOKEN"] = token }
        if let helperPath, context.settings.environment["PATH"] == nil {
            environment["PATH"] = helperPath
        }
        var options = PlatformOptions()
        options.processGroupID = 0  // its own group, led by the child
        options.teardownSequence = [
            .gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: terminationGrace)
        ]

        let result: ExecutionResult<[String], SequenceOutput, SequenceOutput>
        do {
            result = try await Subprocess.run(
                executable,
                arguments: Arguments(Array(spawned.dropFirst())),
                environment: .inherit.updating(environment),
                workingDirectory: context.settings.workingDirectory.map { FilePath($0) },
                platformOptions: options,
                input: .none,
                output: .sequence,
                error: .sequence
            ) { execution in
                // On cancellation (timeout, cancel, shutdown) the whole process group goes: the
                // library's own teardown stops waiting once the leader exits, which would leave
                // children that ignore SIGTERM running.
                let group = execution.processIdentifier.value
                context.recordProcess(group: group)
                return try await withTaskCancellationHandler {
                    try await pumpBoth(execution, context: context)
                } onCancel: {
                    terminate(processGroup: group)
                }
            }
        } catch let error as SubprocessError {
            throw BuildException(
                type: "SpawnFailed",
                message: "cannot start '\(argv[0])': \(spawnReason(error))",
                details: ["argv": .array(argv.map { .string($0) })])
        }
        let stderrTail = result.closureResult
        var details: [String: JSONValue] = [
            "argv": .array(argv.map { .string($0) }),
            "stderr_tail": .array(stderrTail.map { .string($0) }),
        ]
        let type: String
        let message: String
        switch result.terminationStatus {
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
        let directory = (executable as NSString).deletingLastPathComponent
        return FileManager.default.isExecutableFile(atPath: directory + "/jobctl") ? directory : nil
    }()

    /// The daemon's PATH with the helpers' directory first, computed once (reading the process
    /// environment copies all of it, which showed in the profile of a build's hot path).
    static let helperPath: String? = helperDirectory.map {
        $0 + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
    }

    /// How long a process group gets between SIGTERM and SIGKILL.
    static let terminationGrace: Duration = .seconds(5)

    /// SIGTERM to every process of the group now, SIGKILL to whatever is left after the grace period.
    static func terminate(processGroup: pid_t) {
        kill(-processGroup, SIGTERM)
        Task.detached {
            try? await Task.sleep(for: terminationGrace)
            kill(-processGroup, SIGKILL)
        }
    }

    static func pumpBoth(_ execution: Execution<NoInput, SequenceOutput, SequenceOutput>, context: BuildContext)
        async throws -> [String]
    {
        async let stdout = pump(execution.standardOutput, level: .info, logger: "stdout", context: context)
        async let stderr = pump(execution.standardError, level: .warning, logger: "stderr", context: context)
        _ = try await stdout
        return try await stderr
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
            CharacterSet.alphanumerics.contains($0) || "-_./=:,+@%".unicodeScalars.contains($0)
        }
        return safe && !word.isEmpty ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// Logs each line of `sequence` as it arrives; returns the last lines (for stderr's tail).
    static func pump(
        _ sequence: SubprocessOutputSequence, level: LogLevel, logger: String, context: BuildContext
    ) async throws -> [String] {
        var splitter = LineSplitter()
        var tail: [String] = []
        func keep(_ lines: [String]) {
            tail.append(contentsOf: lines)
            if tail.count > stderrTailLines { tail.removeFirst(tail.count - stderrTailLines) }
        }
        for try await buffer in sequence {
            let lines = buffer.withUnsafeBytes { splitter.feed($0) }
            if !lines.isEmpty {
                context.record(output: lines, level: level, logger: logger)
                keep(lines)
                // Backpressure: while storage is behind, stop reading; the command then blocks
                // on its full pipe instead of the daemon's memory growing.
                await context.storage.waitForWriteCapacity()
            }
        }
        if let last = splitter.finish() {
            context.record(output: [last], level: level, logger: logger)
            keep([last])
        }
        return tail
    }

    static func spawnReason(_ error: SubprocessError) -> String {
        if error.code == .executableNotFound { return "no such executable (searched PATH)" }
        if let underlying = error.underlyingError {
            return String(cString: strerror(underlying.rawValue))
        }
        return "\(error)"
    }
}
