import Dispatch
import FoundationEssentials
// stdout (glibc's FILE *) is a C global; reading it is safe here: nothing assigns it.
@preconcurrency import Glibc
import JobControl

/// `jobcontrold --check-config` (and so `jobctl check-config`, which runs it): loads a
/// configuration the way the daemon would, without starting anything, and reports every problem.
public enum ConfigCheck {
    /// Prints the verdict (text, or JSON when `json`) and returns the exit status: 0 when valid,
    /// 78 (EX_CONFIG) when not, 74 (EX_IOERR) when the verdict could not be written (a full disk:
    /// a script must not take a verdict it never got for "valid").
    public static func run(file: String, json: Bool, registry: FunctionRegistry = .builtins) -> Int32 {
        let status = verdict(file: file, json: json, registry: registry)
        let flushed = fflush(stdout) == 0
        let error = flushed ? (ferror(stdout) != 0 ? EIO : 0) : (errno == 0 ? EIO : errno)
        guard error == 0 else {
            writeToStandardError("\(programName): cannot write the output: \(String(cString: strerror(error)))\n")
            return 74
        }
        return status
    }

    /// The name this process was started under: `jobctl` when `jobctl check-config` runs the
    /// check in its place (it says so in `argv[0]`), `jobcontrold` otherwise.
    static var programName: String {
        guard let first = CommandLine.arguments.first, let name = first.split(separator: "/").last, !name.isEmpty
        else { return "jobcontrold" }
        return String(name)
    }

    private static func verdict(file: String, json: Bool, registry: FunctionRegistry) -> Int32 {
        do throws(ConfigError) {
            // From a shell, limits are checked against what the host can give the service.
            let config = try ConfigLoader.load(file: file, registry: registry, limits: .host)
            // Python functions: the module imports and has the callable (in a child interpreter).
            let python = PythonImportCheck.diagnostics(config)
            guard python.isEmpty else { throw ConfigError(python) }
            if json {
                printJSON([
                    "valid": true, "file": .string(file), "jobs": .int(Int64(config.jobs.count)), "errors": [],
                ])
            } else {
                print("\(file): valid, \(config.jobs.count) jobs")
            }
            return 0
        } catch {
            if json {
                printJSON([
                    "valid": false, "file": .string(file),
                    "errors": .array(
                        error.diagnostics.map { diagnostic in
                            [
                                "file": .string(diagnostic.location.file),
                                "line": .int(Int64(diagnostic.location.line)),
                                "column": .int(Int64(diagnostic.location.column)),
                                "message": .string(diagnostic.message),
                            ]
                        }),
                ])
            } else {
                print(error.description)
                // No program name: this is printed for `jobctl check-config` and `jobcontrold --check-config`.
                writeToStandardError("\(file): \(error.countText)\n")
            }
            return 78
        }
    }

    private static func printJSON(_ value: JSONValue) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("null".utf8)
        print(String(decoding: data, as: UTF8.self))
    }
}
