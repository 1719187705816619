import Dispatch
import FoundationEssentials
import Glibc

/// How a Python job function runs: `function: package.module:callable` names a function that is
/// not registered in Swift; it runs in `interpreter` (the job's `python:`, or the daemon's, or
/// `python3` on PATH), with `path` (`python_path:`) added to its imports.
public struct PythonSettings: Sendable, Hashable {
    /// The interpreter's executable (a virtual environment's `bin/python` when `python:` names
    /// the environment's directory).
    public var interpreter: String
    /// Extra import directories, before the default ones.
    public var path: [String]
    /// `package.module`, and the callable in it (may be dotted: `Class.method`).
    public var module: String
    public var callable: String

    public init(interpreter: String, path: [String] = [], module: String, callable: String) {
        self.interpreter = interpreter
        self.path = path
        self.module = module
        self.callable = callable
    }

    /// `python:` as written: an executable, a virtual environment's directory, or a name on PATH.
    /// Nil if none of them exists.
    public static func resolveInterpreter(_ value: String) -> String? {
        let fileManager = FileManager.default
        if value.contains("/") {
            var isDirectory = false
            guard fileManager.fileExists(atPath: value, isDirectory: &isDirectory) else { return nil }
            if isDirectory {
                for name in ["bin/python", "bin/python3"] where fileManager.isExecutableFile(atPath: value + "/" + name)
                {
                    return value + "/" + name
                }
                return nil
            }
            return fileManager.isExecutableFile(atPath: value) ? value : nil
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") where fileManager.isExecutableFile(atPath: "\(directory)/\(value)")
        {
            return "\(directory)/\(value)"
        }
        return nil
    }

    /// `package.module:callable` with identifiers between the dots, as Python spells them.
    public static func parse(_ function: String) -> (module: String, callable: String)? {
        let parts = function.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        func dotted(_ text: Substring) -> Bool {
            let names = text.split(separator: ".", omittingEmptySubsequences: false)
            return !names.isEmpty
                && names.allSatisfy { name in
                    guard let first = name.first, first == "_" || first.isLetter else { return false }
                    return name.allSatisfy { $0 == "_" || $0.isLetter || $0.isNumber }
                }
        }
        guard dotted(parts[0]), dotted(parts[1]) else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    /// The default interpreter when neither the job nor the daemon names one.
    public static let defaultInterpreter = "python3"
}
