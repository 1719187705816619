import Dispatch
import FoundationEssentials
import Glibc

/// Python job functions: the interpreter each runs in, resolved once the daemon's defaults are
/// known.
extension ConfigLoader {
    /// Fills in `python` of every Python job (and cleanup function): the job's `python:` or the
    /// daemon's or `python3`, which must exist; `python_path:` the daemon's then the job's.
    static func resolvePython(_ jobs: inout [JobConfig], config: DaemonConfig, file: String) -> [ConfigDiagnostic] {
        var diagnostics: [ConfigDiagnostic] = []
        for index in jobs.indices {
            var job = jobs[index]
            guard job.python != nil || job.cleanupPython != nil else {
                if let location = job.pythonSetting?.location ?? job.pythonPathLocation {
                    diagnostics.append(
                        ConfigDiagnostic(
                            location,
                            "job '\(job.id)' has 'python' or 'python_path' but no Python function (function: package.module:callable)"
                        ))
                }
                continue
            }
            let written = job.pythonSetting?.value ?? config.python ?? PythonSettings.defaultInterpreter
            let location =
                job.pythonSetting?.location ?? config.pythonLocation ?? job.functionLocation ?? job.location
                ?? SourceLocation(file: file, line: 1, column: 1)
            guard let interpreter = PythonSettings.resolveInterpreter(written) else {
                diagnostics.append(
                    ConfigDiagnostic(
                        location,
                        "job '\(job.id)': Python interpreter '\(written)' not found (give an executable, a virtual environment's directory, or a name on PATH)"
                    ))
                continue
            }
            let path = config.pythonPath + (job.pythonPathSetting ?? [])
            job.python?.interpreter = interpreter
            job.python?.path = path
            job.cleanupPython?.interpreter = interpreter
            job.cleanupPython?.path = path
            jobs[index] = job
        }
        return diagnostics
    }
}

/// `check-config`'s deeper look at Python jobs: each module imports and has the callable,
/// checked in a child interpreter (with the job's interpreter and path) under a time limit.
public enum PythonImportCheck {
    static let script = """
        import importlib, sys
        module_name, attribute = sys.argv[1], sys.argv[2]
        try:
            target = importlib.import_module(module_name)
        except BaseException as error:
            print(f"cannot import {module_name}: {type(error).__name__}: {error}")
            sys.exit(1)
        for part in attribute.split("."):
            if not hasattr(target, part):
                print(f"{module_name} has no {attribute}")
                sys.exit(1)
            target = getattr(target, part)
        if not callable(target):
            print(f"{module_name}:{attribute} is not callable (it is {type(target).__name__})")
            sys.exit(1)
        """

    /// How long one import may take.
    public static let timeout: TimeInterval = 10

    public static func diagnostics(_ config: DaemonConfig) -> [ConfigDiagnostic] {
        var diagnostics: [ConfigDiagnostic] = []
        for job in config.jobs {
            let location =
                job.functionLocation ?? job.location ?? SourceLocation(file: config.file ?? "?", line: 1, column: 1)
            for (settings, key) in [(job.python, "function"), (job.cleanupPython, "cleanup_function")] {
                guard let settings else { continue }
                if let problem = check(settings) {
                    diagnostics.append(ConfigDiagnostic(location, "job '\(job.id)': \(key) \(problem)"))
                }
            }
        }
        return diagnostics
    }

    /// Nil when the callable imports; else what is wrong.
    static func check(_ settings: PythonSettings) -> String? {
        var environment = ProcessSpawner.inherited
        environment["PYTHONPATH"] = (settings.path + [PythonFunction.moduleDirectory].compactMap { $0 }).joined(
            separator: ":")
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        environment["PYTHONSAFEPATH"] = "1"  // as the builds run it (PythonFunction)
        let outcome: ProcessSpawner.Outcome
        do {
            outcome = try ProcessSpawner.runToEnd(
                argv: [settings.interpreter, "-c", script, settings.module, settings.callable],
                environment: environment, timeout: .milliseconds(Int64(timeout * 1000)))
        } catch {
            return "cannot start \(settings.interpreter): \(error.reason)"
        }
        if outcome.timedOut {
            return "\(settings.module):\(settings.callable): importing took longer than \(Int(timeout)) s"
        }
        let text = String(decoding: outcome.output, as: UTF8.self).trimmingBlanks(newlines: true)
        guard outcome.status != 0 else { return nil }
        return text.isEmpty ? "\(settings.module):\(settings.callable) cannot be loaded" : text
    }
}
