import Dispatch
import FoundationEssentials
import Glibc

/// Reads `jobcontrol.yaml` into a ``DaemonConfig``, or fails with every problem it found.
///
/// Nothing half-loads: either the whole file is valid and a complete configuration comes back, or
/// a ``ConfigError`` lists each problem as `file:line:column: message`.
public enum ConfigLoader {
    static let daemonKeys = [
        "storage", "socket", "workers", "stop_timeout", "pools", "log_retention", "build_retention", "secret",
        "secrets_file", "include", "jobs",
        "access", "cluster", "containment", "job_defaults", "python", "python_path", "notifications", "http",
    ]
    static let jobKeys =
        [
            "id", "title", "notes", "command", "function", "args", "kwargs", "dependencies", "environment",
            "working_directory", "user", "group", "tags", "enabled", "protected", "timeout", "retries", "pool",
            "cleanup_function", "build_retention", "python", "python_path", "notify", "expect_success_within",
            "warn_after", "parameters",
        ] + scheduleKeys + resourceKeys

    /// Loads and validates the configuration file at `path` and the job files it includes
    /// (`include:`, default `jobs.d/*.yaml` beside it). Every problem of every file is reported.
    /// Limits are checked against `limits` (see ``LimitCheck``).
    public static func load(
        file path: String, registry: FunctionRegistry = .builtins, limits: LimitCheck = .thisProcess
    )
        throws(ConfigError) -> DaemonConfig
    {
        let url = URL(fileURLWithPath: path)
        ZoneRules.forgetReadFiles()  // a reload reads zone files afresh
        let text = try readText(path)
        var config = try build(
            text: text, file: path, registry: registry, defaultInclude: true, requireJobs: true, limits: limits)
        // A file caught while it is being rewritten reads as empty or cut short: read it again,
        // and refuse what changed under the loader rather than run half a configuration.
        guard try readText(path) == text else {
            throw ConfigError(
                file: path,
                "the file changed while it was being read (is it being written?); nothing was loaded, try again")
        }
        config.file = url.standardizedFileURL.path
        return config
    }

    /// Parses configuration text; `file` names it in error messages and anchors relative
    /// `include:` patterns (there is no default include here).
    public static func parse(yaml text: String, file: String, registry: FunctionRegistry = .builtins)
        throws(ConfigError) -> DaemonConfig
    {
        try build(text: text, file: file, registry: registry, defaultInclude: false, requireJobs: false)
    }

    /// `requireJobs`: a file that defines no job at all, and does not say `jobs: []`, is refused
    /// (an empty or truncated file must not replace a running configuration with nothing).
    static func build(
        text: String, file: String, registry: FunctionRegistry, defaultInclude: Bool, requireJobs: Bool,
        limits: LimitCheck = .thisProcess
    )
        throws(ConfigError) -> DaemonConfig
    {
        var diagnostics: [ConfigDiagnostic] = []
        let main = parseMain(text, file: file, registry: registry, diagnostics: &diagnostics)
        var config = main.config
        var sources: [(jobs: [JobConfig], file: String)] = [(config.jobs, file)]
        let directory = URL(fileURLWithPath: file).deletingLastPathComponent().path
        let patterns = main.include ?? (defaultInclude ? [(defaultIncludePattern, nil)] : [])
        // Each file once: patterns may overlap, and `*.yaml` beside the main file matches it too.
        var loaded: Set<String> = [Self.canonicalPath(file)]
        for (pattern, node) in patterns {
            let absolute = pattern.hasPrefix("/") ? pattern : directory + "/" + pattern
            let matched = expandGlob(absolute)
            let files = matched.filter { loaded.insert(Self.canonicalPath($0)).inserted }
            if matched.isEmpty, !pattern.contains(where: { "*?[".contains($0) }) {
                var reader = YAMLNodeReader(file: file)
                reader.error(node, "included file \(absolute) does not exist")
                diagnostics += reader.diagnostics
            }
            for included in files {
                let includedText: String
                do {
                    includedText = try readText(included)
                } catch {
                    // Named at the `include:` that matched it (`include: ..`, `/dev/zero`): the
                    // file itself has no line to point at.
                    guard let node else {
                        diagnostics += error.diagnostics
                        continue
                    }
                    var reader = YAMLNodeReader(file: file)
                    for problem in error.diagnostics { reader.error(node, "\(included): \(problem.message)") }
                    diagnostics += reader.diagnostics
                    continue
                }
                let jobs = parseJobsFile(includedText, file: included, registry: registry, diagnostics: &diagnostics)
                sources.append((jobs, included))
            }
        }
        var jobs: [JobConfig] = []  // assigned once: each assignment re-indexes the jobs by id
        var seen: [String: SourceLocation] = [:]
        for source in sources {
            for job in source.jobs {
                let location = job.location ?? SourceLocation(file: source.file, line: 1, column: 1)
                if let first = seen[job.id] {
                    diagnostics.append(
                        ConfigDiagnostic(location, "duplicate job id '\(job.id)' (first defined at \(first))"))
                    continue
                }
                seen[job.id] = location
                jobs.append(job)
            }
        }
        for index in jobs.indices { jobs[index].resources = jobs[index].resources.filled(from: config.jobDefaults) }
        diagnostics += resolvePython(&jobs, config: config, file: file)
        config.jobs = jobs
        // "\r\n" is one Character: split at it too, or a CRLF file is one line.
        let blank = text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }).allSatisfy {
            $0.trimmingBlanks().isEmpty
                || $0.trimmingBlanks().hasPrefix("#")
        }
        let empty = text.allSatisfy(\.isWhitespace)
        if requireJobs, empty, !jobs.isEmpty || !diagnostics.isEmpty {
            // Included files' jobs do not make an emptied main file whole: its access rules,
            // secrets, pools and channels would be gone without a word. First, as the cause of
            // what the included files then miss (an undefined pool, secret or channel). A file of
            // comments alone is someone's choice (jobs in jobs.d/, defaults for the rest).
            diagnostics.insert(
                ConfigDiagnostic(
                    SourceLocation(file: file, line: 1, column: 1),
                    "the configuration file is empty (cut short, or being written?); its included files alone are not loaded: write at least 'jobs: []' in it"
                ), at: 0)
        } else if requireJobs, jobs.isEmpty, !main.declaresJobs, diagnostics.isEmpty {
            diagnostics.append(
                ConfigDiagnostic(
                    SourceLocation(file: file, line: 1, column: 1),
                    blank
                        ? "the configuration file is empty (cut short, or being written?); write 'jobs: []' to run a daemon without jobs"
                        : "no job is defined ('jobs' is missing and no included file has any); write 'jobs: []' to run a daemon without jobs"
                ))
        }
        diagnostics += validateGraph(config.jobs, defaultFile: file)
        diagnostics += validateResources(config, defaultsNodes: main.defaultsNodes, file: file, against: limits)
        for job in config.jobs {
            if let pool = job.pool, config.pools[pool] == nil {
                let known = config.pools.keys.sorted()
                diagnostics.append(
                    ConfigDiagnostic(
                        job.poolNode ?? job.location ?? SourceLocation(file: file, line: 1, column: 1),
                        "job '\(job.id)' uses pool '\(pool)', which is not defined under 'pools'"
                            + (known.isEmpty ? "" : " (defined: \(known.joined(separator: ", ")))")))
            }
        }
        for job in config.jobs {
            for name in Set(job.secretReferences).sorted() where config.secrets[name] == nil {
                diagnostics.append(
                    ConfigDiagnostic(
                        job.location ?? SourceLocation(file: file, line: 1, column: 1),
                        "job '\(job.id)' uses '!secret \(name)' but no secret '\(name)' is defined under 'secret' or in 'secrets_file'"
                    ))
            }
        }
        diagnostics += validateNotifications(config, file: file)
        // An HTTP token given as !secret: defined, and as long as a literal token must be.
        for token in config.http?.tokens ?? [] {
            guard case .secret(let name) = token.value else { continue }
            let location = config.http?.location ?? SourceLocation(file: file, line: 1, column: 1)
            if let value = config.secrets[name] {
                if value.count < 16 {
                    diagnostics.append(
                        ConfigDiagnostic(
                            location,
                            "http token '!secret \(name)' is \(value.count) characters; a token must be at least 16"))
                }
            } else {
                diagnostics.append(
                    ConfigDiagnostic(
                        location,
                        "http token uses '!secret \(name)' but no secret '\(name)' is defined under 'secret' or in 'secrets_file'"
                    ))
            }
        }
        guard diagnostics.isEmpty else { throw ConfigError(diagnostics) }
        return config
    }

    /// Where job files are looked for when the main file says nothing.
    public static let defaultIncludePattern = "jobs.d/*.yaml"

    /// The text of a configuration file: a regular file (a FIFO or a device named by an
    /// include pattern would block or never end) of at most the composer's 64 MiB, checked
    /// before it is read, in UTF-8 (the first byte that is not is reported with its place).
    static func readText(_ path: String) throws(ConfigError) -> String {
        func refuse(_ reason: String, line: Int = 1, column: Int = 1) -> ConfigError {
            ConfigError(file: path, line: line, column: column, "cannot read configuration file: \(reason)")
        }
        // O_NONBLOCK: opening a FIFO does not wait for a writer.
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { throw refuse(String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw refuse(String(cString: strerror(errno))) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw refuse("it is not a regular file") }
        guard info.st_size <= YAMLComposer.maximumBytes else {
            throw refuse(
                "it is \(ByteSize.human(Int64(info.st_size))), more than the \(YAMLComposer.maximumBytes >> 20) MiB a configuration file may have"
            )
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(info.st_size))
        let chunk = 65536
        while bytes.count <= YAMLComposer.maximumBytes {
            let previous = bytes.count
            bytes.append(contentsOf: repeatElement(0, count: chunk))
            let count = bytes.withUnsafeMutableBufferPointer { buffer in
                read(descriptor, buffer.baseAddress! + previous, chunk)
            }
            if count < 0, errno == EINTR {
                bytes.removeLast(chunk)
                continue
            }
            guard count >= 0 else { throw refuse(String(cString: strerror(errno))) }
            bytes.removeLast(chunk - count)
            if count == 0 { break }
        }
        guard bytes.count <= YAMLComposer.maximumBytes else {
            throw refuse("it is more than the \(YAMLComposer.maximumBytes >> 20) MiB a configuration file may have")
        }
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        if bytes.starts(with: [0xFE, 0xFF]) || bytes.starts(with: [0xFF, 0xFE]) {
            throw refuse("it is UTF-16 text; save it as UTF-8")
        }
        let place = firstInvalidUTF8(bytes)
        throw refuse(
            "it is not UTF-8 text: byte 0x\(String(bytes[place.offset], radix: 16, uppercase: true)) here; save it as UTF-8",
            line: place.line, column: place.column)
    }

    /// Where the first byte that is not part of valid UTF-8 is: its offset, and its line and
    /// column (in characters, counted from 1, as the YAML parser counts them).
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> (offset: Int, line: Int, column: Int) {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var (offset, line, column) = (0, 1, 1)
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                if encoded.first == 0x0A {
                    line += 1
                    column = 1
                } else {
                    column += 1
                }
                offset += encoded.count
            case .emptyInput, .error:
                return (min(offset, max(bytes.count - 1, 0)), line, column)
            }
        }
    }

    static func compose(_ text: String, file: String, diagnostics: inout [ConfigDiagnostic]) -> Node?? {
        do {
            return .some(try YAMLComposer.compose(text))
        } catch {
            diagnostics.append(
                ConfigDiagnostic(
                    SourceLocation(file: file, line: error.place.line, column: error.place.column),
                    "YAML syntax error: \(error.message)"))
            return nil
        }
    }

    /// The main file: daemon keys, `jobs`, and `include` patterns (with their nodes, for errors).
    static func parseMain(
        _ text: String, file: String, registry: FunctionRegistry, diagnostics: inout [ConfigDiagnostic]
    )
        -> (
            config: DaemonConfig, include: [(String, Node?)]?, declaresJobs: Bool,
            defaultsNodes: [String: SourceLocation]
        )
    {
        var defaultsNodes: [String: SourceLocation] = [:]
        var pythonNode: SourceLocation?
        var config = DaemonConfig()
        guard let composed = compose(text, file: file, diagnostics: &diagnostics), let root = composed else {
            return (config, nil, false, [:])  // a syntax error, or an empty file: defaults, no jobs
        }
        var reader = YAMLNodeReader(file: file)
        defer { diagnostics += reader.diagnostics }
        guard let entries = reader.mapping(root, what: "the configuration file") else {
            return (config, nil, false, [:])
        }
        var include: [(String, Node?)]?
        var declaresJobs = false
        for entry in entries {
            switch entry.key {
            case "storage":
                if let value = reader.string(entry.value, what: "'storage'") {
                    if value.hasPrefix("sqlite:") || value.hasPrefix("postgresql://") || value.hasPrefix("postgres://")
                    {
                        config.storage = value
                    } else {
                        reader.error(
                            entry.value,
                            "unsupported storage URL '\(value)'; use sqlite:///path/to/file.sqlite3, sqlite::memory: or postgresql://user:password@host/database"
                        )
                    }
                }
            case "socket":
                if let value = reader.string(entry.value, what: "'socket'") {
                    if !value.hasPrefix("/") {
                        // Relative to what? The daemon's working directory is not the file's.
                        reader.error(
                            entry.value, "'socket' must be an absolute path, as /run/jobcontrol/jobcontrol.sock")
                    } else if value.utf8.count >= 108 {
                        reader.error(
                            entry.value,
                            "socket path is \(value.utf8.count) bytes; Unix socket paths must be shorter than 108")
                    } else {
                        config.socket = value
                    }
                }
            case "workers":
                if let value = reader.int(entry.value, what: "'workers'") {
                    if value < 1 {
                        reader.error(entry.value, "'workers' must be at least 1")
                    } else {
                        config.workers = value
                    }
                }
            case "log_retention":
                if let retention = readLogRetention(entry.value, reader: &reader) { config.logRetention = retention }
            case "build_retention":
                config.buildRetention = readBuildRetention(entry.value, reader: &reader, what: "'build_retention'")
            case "pools":
                config.pools = readPools(entry.value, reader: &reader)
            case "stop_timeout":
                if let seconds = readDuration(entry.value, reader: &reader, what: "'stop_timeout'"), let seconds {
                    config.stopTimeout = seconds
                }
            case "include":
                include = readInclude(entry.value, reader: &reader)
            case "secret":
                config.secrets.merge(readSecrets(entry.value, reader: &reader, what: "'secret'")) { _, new in new }
            case "secrets_file":
                if let path = reader.string(entry.value, what: "'secrets_file'") {
                    let absolute =
                        path.hasPrefix("/")
                        ? path : URL(fileURLWithPath: file).deletingLastPathComponent().path + "/" + path
                    config.secrets.merge(
                        readSecretsFile(absolute, node: entry.value, reader: &reader, diagnostics: &diagnostics)
                    ) { old, _ in old }
                }
            case "jobs":
                declaresJobs = true
                config.jobs = readJobs(entry.value, reader: &reader, registry: registry)
            case "access":
                config.access = readAccess(entry.value, reader: &reader)
            case "cluster":
                config.cluster = readCluster(entry.value, reader: &reader)
            case "containment":
                if let containment = readContainment(entry.value, reader: &reader) { config.containment = containment }
            case "job_defaults":
                (config.jobDefaults, defaultsNodes) = readJobDefaults(entry.value, reader: &reader)
            case "python":
                if let value = reader.string(entry.value, what: "'python'") {
                    config.python = value
                    pythonNode = reader.location(entry.value)
                }
            case "python_path":
                if let values = reader.stringList(entry.value, what: "'python_path'") { config.pythonPath = values }
            case "notifications":
                config.notifications = readNotifications(entry.value, reader: &reader)
            case "http":
                config.http = readHTTP(entry.value, reader: &reader)
            default:
                reader.unknownKey(entry.key, entry.keyNode, in: "the configuration file", known: daemonKeys)
            }
        }
        config.pythonLocation = pythonNode
        return (config, include, declaresJobs, defaultsNodes)
    }

    /// `include: jobs.d/*.yaml` or a list of such patterns.
    static func readInclude(_ node: Node, reader: inout YAMLNodeReader) -> [(String, Node?)] {
        if case .sequence(let items) = node {
            return items.compactMap { item in reader.string(item, what: "each item of 'include'").map { ($0, item) } }
        }
        return reader.string(node, what: "'include'").map { [($0, node)] } ?? []
    }

    /// An included job file: `jobs: [...]`, or just the list.
    static func parseJobsFile(
        _ text: String, file: String, registry: FunctionRegistry, diagnostics: inout [ConfigDiagnostic]
    )
        -> [JobConfig]
    {
        guard let composed = compose(text, file: file, diagnostics: &diagnostics) else { return [] }
        guard let root = composed else {
            // Nothing in it: most likely cut short or being written. Accepted, it would take its
            // jobs out of the running configuration without a word at the next reload.
            diagnostics.append(
                ConfigDiagnostic(
                    SourceLocation(file: file, line: 1, column: 1),
                    "the included file is empty (cut short, or being written?); write 'jobs: []' in it if it is meant to hold no jobs"
                ))
            return []
        }
        var reader = YAMLNodeReader(file: file)
        defer { diagnostics += reader.diagnostics }
        if case .sequence = root { return readJobs(root, reader: &reader, registry: registry) }
        guard let entries = reader.mapping(root, what: "an included job file") else { return [] }
        var jobs: [JobConfig] = []
        for entry in entries {
            if entry.key == "jobs" {
                jobs = readJobs(entry.value, reader: &reader, registry: registry)
            } else {
                reader.error(
                    entry.keyNode,
                    "an included job file may hold only 'jobs'; '\(entry.key)' belongs in the main configuration file")
            }
        }
        return jobs
    }

    /// Paths matching a glob pattern, sorted.
    /// The path with symbolic links and `..` resolved, when it exists; else as given.
    static func canonicalPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func expandGlob(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard glob(pattern, 0, nil, &result) == 0 else { return [] }
        return (0..<Int(result.gl_pathc)).compactMap { index in result.gl_pathv[index].map { String(cString: $0) } }
            .sorted()
    }

    /// Unknown dependencies, `!retval` of a non-dependency, and cycles.
    static func validateGraph(_ jobs: [JobConfig], defaultFile: String) -> [ConfigDiagnostic] {
        var diagnostics: [ConfigDiagnostic] = []
        let byID = Dictionary(jobs.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        for job in jobs {
            let location = job.location ?? SourceLocation(file: defaultFile, line: 1, column: 1)
            for dependency in job.dependencies where byID[dependency] == nil {
                diagnostics.append(ConfigDiagnostic(location, "job '\(job.id)' depends on unknown job '\(dependency)'"))
            }
            let references = (job.args + job.kwargs.keys.sorted().map { job.kwargs[$0]! }).flatMap(\.retvalReferences)
            for reference in Set(references).sorted() where !job.dependencies.contains(reference) {
                diagnostics.append(
                    ConfigDiagnostic(
                        location,
                        "job '\(job.id)' uses '!retval \(reference)' but '\(reference)' is not one of its dependencies")
                )
            }
        }
        // Depth-first search; a back edge is a cycle, printed in dependency order.
        var state: [String: Int] = [:]  // 1 = on the current path, 2 = done
        var path: [String] = []
        var reported: Set<String> = []
        func visit(_ id: String) {
            guard let job = byID[id] else { return }
            state[id] = 1
            path.append(id)
            for dependency in job.dependencies {
                if state[dependency] == 1 {
                    let cycle = Array(path[path.lastIndex(of: dependency)!...]) + [dependency]
                    let key = Set(cycle).sorted().joined(separator: ",")
                    if reported.insert(key).inserted {
                        let location = job.location ?? SourceLocation(file: defaultFile, line: 1, column: 1)
                        diagnostics.append(
                            ConfigDiagnostic(location, "dependency cycle: \(cycle.joined(separator: " -> "))"))
                    }
                } else if state[dependency] == nil {
                    visit(dependency)
                }
            }
            path.removeLast()
            state[id] = 2
        }
        for job in jobs where state[job.id] == nil { visit(job.id) }
        return diagnostics
    }

    /// Letters, digits, `_`, `-` and `.`, at most 128 bytes, not only dots (`.` and `..` are
    /// path segments, which a URL (`/jobs/..`) or a file name made from the id cannot name), and
    /// not starting with `-` (`jobctl run -x` reads an option: it printed help and exited 0).
    static func isValidJobID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 128
            && id.unicodeScalars.allSatisfy {
                $0.isASCIIAlphanumeric || "_-.".unicodeScalars.contains($0)
            } && !id.utf8.allSatisfy { $0 == UInt8(ascii: ".") } && !id.hasPrefix("-")
    }

    static func isValidFunctionName(_ name: String) -> Bool {
        let parts = name.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
    }

    static func reason(_ error: any Error) -> String {
        fileErrorText(error)
    }
}
