import Dispatch
import FoundationEssentials
import Glibc

/// One job's keys, read and checked.
extension ConfigLoader {
    static func readJobs(_ node: Node, reader: inout YAMLNodeReader, registry: FunctionRegistry) -> [JobConfig] {
        guard case .sequence(let sequence) = node else {
            reader.error(node, "'jobs' must be a list of jobs, found \(YAMLNodeReader.typeName(node))")
            return []
        }
        return sequence.compactMap { readJob($0, reader: &reader, registry: registry) }
    }

    static func readJob(_ node: Node, reader: inout YAMLNodeReader, registry: FunctionRegistry) -> JobConfig? {
        guard let entries = reader.mapping(node, what: "a job") else { return nil }
        let before = reader.diagnostics.count
        var id: String?
        var job = JobConfig(id: "", function: "", location: reader.location(node))
        var command: (value: ConfigValue, node: Node)?
        var functionNode: Node?
        /// A 'command' or 'function' key was given (perhaps invalid, or misspelt).
        var whatRunsGiven = false
        for entry in entries {
            let what = "'\(entry.key)'"
            switch entry.key {
            case "id":
                if let value = reader.string(entry.value, what: what) {
                    if isValidJobID(value) {
                        id = value
                    } else {
                        reader.error(
                            entry.value,
                            "job id '\(value)' may contain only letters, digits, '_', '-' and '.', must not be only dots, and must not start with '-'"
                        )
                    }
                }
            case "title": job.title = reader.string(entry.value, what: what)
            case "notes": job.notes = reader.string(entry.value, what: what)
            case "function":
                whatRunsGiven = true
                functionNode = entry.value
                if let value = reader.string(entry.value, what: what) { job.function = value }
            case "command":
                whatRunsGiven = true
                switch entry.value {
                case .scalar:
                    if let value = reader.string(entry.value, what: what) { command = (.string(value), entry.value) }
                case .sequence:
                    if let values = reader.stringList(entry.value, what: what) {
                        if values.isEmpty {
                            reader.error(entry.value, "'command' must not be an empty list")
                        } else {
                            command = (.array(values.map { .string($0) }), entry.value)
                        }
                    }
                default:
                    reader.error(
                        entry.value,
                        "'command' must be a string (run by /bin/sh -c) or a list (argv), found \(YAMLNodeReader.typeName(entry.value))"
                    )
                }
            case "args":
                guard case .sequence = entry.value else {
                    reader.error(entry.value, "'args' must be a list, found \(YAMLNodeReader.typeName(entry.value))")
                    continue
                }
                if case .array(let values)? = reader.value(entry.value, what: what) { job.args = values }
            case "kwargs":
                guard case .mapping = entry.value else {
                    reader.error(
                        entry.value, "'kwargs' must be a mapping, found \(YAMLNodeReader.typeName(entry.value))")
                    continue
                }
                if case .object(let values)? = reader.value(entry.value, what: what) { job.kwargs = values }
            case "dependencies":
                if let values = reader.stringList(entry.value, what: what) { job.dependencies = values }
            case "environment":
                job.environment = readEnvironment(entry.value, reader: &reader)
            case "parameters":
                job.parameters = readParameters(entry.value, reader: &reader)
            case "working_directory":
                if let value = reader.string(entry.value, what: what) {
                    if value.hasPrefix("/") {
                        job.workingDirectory = value
                    } else {
                        reader.error(entry.value, "'working_directory' must be an absolute path")
                    }
                }
            case "user":
                if let value = reader.string(entry.value, what: what) {
                    if getpwnam(value) == nil {
                        reader.error(entry.value, "user '\(value)' does not exist on this host")
                    } else {
                        job.user = value
                    }
                }
            case "group":
                if let value = reader.string(entry.value, what: what) {
                    if getgrnam(value) == nil {
                        reader.error(entry.value, "group '\(value)' does not exist on this host")
                    } else {
                        job.group = value
                    }
                }
            case "tags":
                if let values = reader.stringList(entry.value, what: what) { job.tags = values }
            case "enabled":
                if let value = reader.bool(entry.value, what: what) { job.enabled = value }
            case "protected":
                if let value = reader.bool(entry.value, what: what) { job.protected = value }
            case "timeout":
                if let seconds = readDuration(entry.value, reader: &reader, what: what) {
                    if let seconds, seconds > 0 {
                        job.timeout = seconds
                    } else {
                        reader.error(entry.value, "'timeout' must be longer than 0s")
                    }
                }
            case "retries":
                job.retry = readRetries(entry.value, reader: &reader)
            case "cleanup_function":
                if let value = reader.string(entry.value, what: what) {
                    switch checkFunction(
                        value, key: "cleanup_function", label: "cleanup function", node: entry.value, reader: &reader,
                        registry: registry)
                    {
                    case .swift: job.cleanupFunction = value
                    case .python(let module, let callable):
                        job.cleanupFunction = value
                        job.cleanupPython = PythonSettings(interpreter: "", module: module, callable: callable)
                    case .invalid: break
                    }
                }
            case "python":
                if let value = reader.string(entry.value, what: what) {
                    job.pythonSetting = PythonSetting(value: value, location: reader.location(entry.value))
                }
            case "python_path":
                if let values = reader.stringList(entry.value, what: what) {
                    job.pythonPathSetting = values
                    job.pythonPathLocation = reader.location(entry.keyNode)
                }
            case "pool":
                if let value = reader.string(entry.value, what: what) {
                    job.pool = value
                    job.poolNode = reader.location(entry.value)
                }
            case "build_retention":
                job.buildRetention = readBuildRetention(entry.value, reader: &reader, what: what)
            case "notify":
                job.notify = readNotifyRules(entry.value, reader: &reader, what: what)
                job.notifyLocation = reader.location(entry.keyNode)
            case "expect_success_within":
                if let seconds = readDuration(entry.value, reader: &reader, what: what), let seconds {
                    if seconds <= 0 {
                        reader.error(entry.value, "'expect_success_within' must be longer than 0 s")
                    } else {
                        job.expectSuccessWithin = seconds
                    }
                }
            case "warn_after":
                if let seconds = readDuration(entry.value, reader: &reader, what: what), let seconds {
                    if seconds <= 0 {
                        reader.error(entry.value, "'warn_after' must be longer than 0 s")
                    } else {
                        job.warnAfter = seconds
                    }
                }
            case let key where scheduleKeys.contains(key):
                break  // read below, once `timezone` is known
            case let key where resourceKeys.contains(key):
                _ = readResourceKey(key, entry.value, into: &job.resources, reader: &reader)
                job.resourceNodes[key] = reader.location(entry.keyNode)
            default:
                reader.unknownKey(entry.key, entry.keyNode, in: "a job", known: jobKeys)
                // A misspelt 'command' was reported as such; "needs a command" would say it twice.
                if let meant = YAMLNodeReader.closest(to: entry.key, in: jobKeys),
                    ["command", "function"].contains(meant)
                {
                    whatRunsGiven = true
                }
            }
        }
        job.schedule = readSchedulePolicy(entries, parameters: job.parameters, reader: &reader)
        guard let id else {
            if reader.diagnostics.count == before { reader.error(node, "a job needs an 'id'") }
            return nil
        }
        job.id = id
        checkParameterReferences(job, node: node, reader: &reader)
        switch (command, functionNode) {
        case (let command?, nil):
            if case .string(let script) = command.value {
                job.function = FunctionRegistry.shell
                job.args = [.string(script)] + job.args
            } else if case .array(let argv) = command.value {
                job.function = FunctionRegistry.exec
                job.args = argv + job.args
            }
        case (_?, let functionNode?):
            reader.error(functionNode, "job '\(id)' has both 'command' and 'function'; use one")
        case (nil, let functionNode?):
            if !job.function.isEmpty {
                job.functionLocation = reader.location(functionNode)
                if case .python(let module, let callable) = checkFunction(
                    job.function, key: "function", label: "function", node: functionNode, reader: &reader,
                    registry: registry)
                {
                    job.python = PythonSettings(interpreter: "", module: module, callable: callable)
                }
            }
        case (nil, nil):
            // Only when nothing was said about what runs: a 'command' given but invalid was
            // reported where it stands.
            if !whatRunsGiven { reader.error(node, "job '\(id)' needs a 'command' or a 'function'") }
        }
        return reader.diagnostics.count == before ? job : nil
    }

    /// What a `function:` names: a function registered in Swift, else a Python callable
    /// (`package.module:callable`); `invalid` after reporting what is wrong.
    enum FunctionKind {
        case swift
        case python(module: String, callable: String)
        case invalid
    }

    static func checkFunction(
        _ name: String, key: String, label: String, node: Node, reader: inout YAMLNodeReader, registry: FunctionRegistry
    ) -> FunctionKind {
        if !isValidFunctionName(name) {
            reader.error(node, "'\(key)' must be in module:function form, found '\(name)'")
            return .invalid
        }
        if registry.contains(name) { return .swift }
        // The `jobcontrol` module is ours: a name in it that is not registered is a typo.
        if name.hasPrefix("jobcontrol:") {
            reader.error(
                node, "\(label) '\(name)' is not registered; built in: \(registry.names.joined(separator: ", "))")
            return .invalid
        }
        guard let (module, callable) = PythonSettings.parse(name) else {
            reader.error(
                node,
                "\(label) '\(name)' is not registered in Swift, and is not a Python name (package.module:callable); registered: \(registry.names.joined(separator: ", "))"
            )
            return .invalid
        }
        return .python(module: module, callable: callable)
    }
}
