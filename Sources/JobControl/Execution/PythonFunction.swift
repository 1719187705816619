import Dispatch
import FoundationEssentials
import Glibc

/// Python job functions: `function: package.module:callable` runs in a fresh interpreter per
/// build (`python -m jobcontrol._runner`, the module shipped in `python/jobcontrol`), contained
/// like any command (cgroup, limits, leftovers; its stdout and stderr are logged). The runner
/// gets the resolved args and kwargs as JSON, logs through the control socket with the build's
/// token, and writes the outcome — return value, skip, or exception with the seed's traceback —
/// to a file this function reads once the interpreter has exited.
enum PythonFunction {
    /// The job function for `settings`.
    static func make(_ settings: PythonSettings) -> JobFunction {
        { context, args, kwargs in
            try await run(settings, context: context, args: args, kwargs: kwargs)
        }
    }

    static func run(_ settings: PythonSettings, context: BuildContext, args: [JSONValue], kwargs: [String: JSONValue])
        async throws -> JSONValue?
    {
        guard let moduleDirectory else {
            throw BuildException(
                type: "PythonModuleMissing",
                message:
                    "the jobcontrol Python module is not installed beside jobcontrold (python/jobcontrol in the source tree, share/jobcontrol/python when installed); set JOBCONTROL_PYTHON_MODULE to its directory"
            )
        }
        let outcome = try OutcomeFile(context: context)
        defer { outcome.remove() }
        let environment = [
            "JOBCONTROL_FUNCTION": "\(settings.module):\(settings.callable)",
            "JOBCONTROL_ARGS": JSONValue.array(args).jsonText(),
            "JOBCONTROL_RESULT": outcome.path,
            "PYTHONPATH":
                (settings.path + [moduleDirectory] + [context.settings.environment["PYTHONPATH"]].compactMap { $0 })
                .joined(separator: ":"),
            // Output reaches the log as it is printed, not when a buffer fills.
            "PYTHONUNBUFFERED": "1",
            // `-m` would put the working directory first on sys.path (Python 3.11+ honours
            // this): a `json.py` or `jobcontrol/` planted in a shared working directory such as
            // /tmp would run as the job's user. Imports come from `python_path` and the module only.
            "PYTHONSAFEPATH": "1",
        ]
        let argv = [settings.interpreter, "-m", "jobcontrol._runner"]
        var commandFailure: BuildException?
        do {
            _ = try await CommandFunction.run(
                argv: argv, context: context, kwargs: kwargs, extraEnvironment: environment)
        } catch let error as BuildException where ["CommandFailed", "CommandKilled"].contains(error.type) {
            commandFailure = error
        }
        guard let result = try outcome.read() else {
            // The interpreter ended without an outcome: it died (os._exit, a signal, a crash).
            let how = commandFailure?.message ?? "it exited with status 0"
            throw BuildException(
                type: "PythonDied",
                message:
                    "the Python interpreter ended before \(settings.module):\(settings.callable) returned: \(how.replacing("'\(settings.interpreter)' ", with: ""))",
                details: commandFailure?.details ?? [:], traceback: commandFailure?.traceback)
        }
        if let reason = result["skip"] {
            throw BuildSkipped(reason.stringValue ?? "")
        }
        if let exception = result["exception"] {
            let type = exception["type"]?.stringValue ?? "Exception"
            let message = exception["message"]?.stringValue ?? ""
            throw BuildException(
                type: type, message: message,
                details: ["python_function": .string("\(settings.module):\(settings.callable)")],
                traceback: result["traceback"].map(TracebackInfo.init(json:)))
        }
        guard commandFailure == nil else { throw commandFailure! }
        // A function that returned None leaves the build's value to `jobctl retval`, if it
        // called it. (Written `nil` in the closure, that was `.null`: JSONValue is nil-literal
        // expressible, so the value `jobctl retval` set was dropped.)
        guard let returned = result["retval"], returned != .null else { return Optional<JSONValue>.none }
        return returned
    }

    /// The directory holding the `jobcontrol` package: `JOBCONTROL_PYTHON_MODULE`, else found
    /// from the executable (the source tree's `python/`, or `share/jobcontrol/python` beside an
    /// installation's `bin/`), else the system's.
    static let moduleDirectory: String? = {
        let fileManager = FileManager.default
        func holdsModule(_ directory: String) -> Bool {
            fileManager.fileExists(atPath: directory + "/jobcontrol/_runner.py")
        }
        if let configured = ProcessInfo.processInfo.environment["JOBCONTROL_PYTHON_MODULE"] {
            return holdsModule(configured) ? configured : nil
        }
        if let executable = try? fileManager.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            var directory = executable.parentPath
            while directory != "/" && !directory.isEmpty {
                for candidate in [directory + "/python", directory + "/share/jobcontrol/python"]
                where holdsModule(candidate) {
                    return candidate
                }
                directory = directory.parentPath
            }
        }
        return ["/usr/share/jobcontrol/python", "/usr/local/share/jobcontrol/python"].first(where: holdsModule)
    }()

    /// Where the runner writes the outcome: a file in a directory of its own, which the build's
    /// user (`user:`) may write.
    struct OutcomeFile {
        let directory: String
        var path: String { directory + "/outcome.json" }

        init(context: BuildContext) throws {
            var template = Array(
                (temporaryDirectoryPath + "/jobcontrol-python-XXXXXX").utf8CString)
            guard let made = mkdtemp(&template) else {
                throw BuildException(
                    type: "PythonSetupFailed",
                    message: "cannot create a directory for the outcome: \(String(cString: strerror(errno)))")
            }
            directory = String(cString: made)
            if let user = context.settings.user, let entry = UserDatabase.user(named: user) {
                chown(directory, entry.uid, entry.gid)
            }
        }

        /// The outcome written by the runner; nil if there is none. The directory belongs to the
        /// build's user: a symbolic link, a device or a file past ``maxOutcomeBytes`` is refused
        /// (as unreadable JSON is), never read whole.
        func read() throws -> JSONValue? {
            let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
            guard descriptor >= 0 else {
                if errno == ENOENT { return nil }
                throw BuildException(
                    type: "PythonOutcomeUnreadable",
                    message: "cannot open the function's outcome: \(String(cString: strerror(errno)))")
            }
            defer { close(descriptor) }
            var info = stat()
            guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_size <= maxOutcomeBytes
            else {
                throw BuildException(
                    type: "PythonOutcomeUnreadable",
                    message:
                        "the function's outcome is not a regular file of at most \(ByteSize.text(UInt64(maxOutcomeBytes))) (a return value that large belongs in a file)"
                )
            }
            var data = [UInt8](repeating: 0, count: Int(info.st_size) + 1)  // one more: a file still growing
            var count = 0
            while count < data.count {
                let got = data.withUnsafeMutableBytes {
                    Glibc.read(descriptor, $0.baseAddress! + count, $0.count - count)
                }
                if got > 0 {
                    count += got
                } else if got == 0 || errno != EINTR {
                    break
                }
            }
            data.removeSubrange(count...)
            do {
                return try JSONValue.parse(String(decoding: data, as: UTF8.self))
            } catch {
                throw BuildException(
                    type: "PythonOutcomeUnreadable", message: "the function's outcome is not JSON: \(error)")
            }
        }

        /// The largest outcome read: a return value and a traceback.
        static let maxOutcomeBytes = 16 << 20
        var maxOutcomeBytes: Int { Self.maxOutcomeBytes }

        func remove() {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}
