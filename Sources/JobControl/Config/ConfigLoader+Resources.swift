import Dispatch
import FoundationEssentials
import Glibc

/// The containment keys: limits, `leftovers`, `log_limit` (per job and under `job_defaults`),
/// and `containment`.
extension ConfigLoader {
    static let resourceKeys = [
        "memory_max", "cpu_quota", "cpu_weight", "tasks_max", "nice", "limit_nofile", "limit_core", "leftovers",
        "log_limit",
    ]

    /// Reads one resource key into `resources`; false if `key` is not one.
    static func readResourceKey(
        _ key: String, _ node: Node, into resources: inout BuildResources, reader: inout YAMLNodeReader
    ) -> Bool {
        let what = "'\(key)'"
        switch key {
        case "memory_max":
            resources.memoryMax = readSize(node, reader: &reader, what: what, minimum: 1 << 20)
        case "limit_core":
            resources.limitCORE = readSize(node, reader: &reader, what: what, minimum: 0)
        case "log_limit":
            resources.logLimit = readSize(node, reader: &reader, what: what, minimum: 1024)
        case "cpu_quota":
            // systemd writes CPUQuota=50%; a bare number is taken as percent too.
            let text = reader.string(node, what: what).map { $0.hasSuffix("%") ? String($0.dropLast()) : $0 }
            if let text, let percent = Int(text), (1...100_000).contains(percent) {
                resources.cpuQuotaPercent = percent
            } else if text != nil {
                reader.error(node, "\(what) must be a percentage of one CPU, like 50% (200% is two CPUs)")
            }
        case "cpu_weight":
            if let value = reader.int(node, what: what) {
                if (1...10_000).contains(value) {
                    resources.cpuWeight = value
                } else {
                    reader.error(node, "\(what) must be between 1 and 10000 (the default is 100)")
                }
            }
        case "tasks_max":
            if let value = reader.int(node, what: what) {
                if value >= 1 {
                    resources.tasksMax = value
                } else {
                    reader.error(node, "\(what) must be at least 1")
                }
            }
        case "nice":
            if let value = reader.int(node, what: what) {
                if (-20...19).contains(value) {
                    resources.nice = value
                } else {
                    reader.error(node, "\(what) must be between -20 and 19")
                }
            }
        case "limit_nofile":
            if let value = reader.int(node, what: what) {
                // stdin, stdout and stderr, and one for the dynamic loader to open libraries with:
                // at 3, no dynamically linked program starts.
                if value >= 4 {
                    resources.limitNOFILE = UInt64(value)
                } else {
                    reader.error(
                        node,
                        "\(what) must be at least 4 (stdin, stdout, stderr, and one the dynamic loader opens libraries with)"
                    )
                }
            }
        case "leftovers":
            if let value = reader.string(node, what: what) {
                if let leftovers = BuildResources.Leftovers(rawValue: value) {
                    resources.leftovers = leftovers
                } else {
                    reader.error(
                        node,
                        "\(what) must be 'kill' (processes still running when the command exits are stopped) or 'keep'"
                    )
                }
            }
        default:
            return false
        }
        return true
    }

    /// A size like systemd's: `64M`, `1G`, `512K`, or bytes; at least `minimum`.
    static func readSize(_ node: Node, reader: inout YAMLNodeReader, what: String, minimum: UInt64) -> UInt64? {
        let text: String?
        if case .scalar(let scalar) = node, node.null == nil { text = scalar.string } else { text = nil }
        guard let text, let bytes = ByteSize.parse(text) else {
            reader.error(node, "\(what) must be a size like 64M, 2G or 512K (powers of 1024), or bytes")
            return nil
        }
        guard bytes >= minimum else {
            reader.error(node, "\(what) must be at least \(ByteSize.text(minimum))")
            return nil
        }
        return bytes
    }

    /// `job_defaults: {memory_max: 1G, leftovers: kill, …}`.
    static func readJobDefaults(_ node: Node, reader: inout YAMLNodeReader) -> (
        BuildResources, [String: SourceLocation]
    ) {
        var resources = BuildResources()
        var nodes: [String: SourceLocation] = [:]
        guard let entries = reader.mapping(node, what: "'job_defaults'") else { return (resources, nodes) }
        for entry in entries {
            if readResourceKey(entry.key, entry.value, into: &resources, reader: &reader) {
                nodes[entry.key] = reader.location(entry.keyNode)
            } else {
                reader.unknownKey(entry.key, entry.keyNode, in: "'job_defaults'", known: resourceKeys)
            }
        }
        return (resources, nodes)
    }

    /// `containment: auto | process-group`.
    static func readContainment(_ node: Node, reader: inout YAMLNodeReader) -> Containment? {
        guard let value = reader.string(node, what: "'containment'") else { return nil }
        guard let containment = Containment(rawValue: value) else {
            reader.error(
                node,
                "'containment' must be 'auto' (a cgroup per build where the host allows) or 'process-group'")
            return nil
        }
        return containment
    }

    /// Every limit a job has must be enforceable here: a limit the host cannot apply is an
    /// error naming the key and the reason, not a setting silently ignored.
    static func validateResources(
        _ config: DaemonConfig, defaultsNodes: [String: SourceLocation], file: String, against check: LimitCheck
    )
        -> [ConfigDiagnostic]
    {
        var diagnostics: [ConfigDiagnostic] = []
        let probe = check == .host ? CgroupHost.hostProbe : CgroupHost.probe
        // The daemon itself checks against what its set-up really enabled (a controller offered
        // may still refuse to be enabled), not only what the host offers.
        let available: Set<CgroupController> =
            config.containment == .processGroup
            ? [] : check == .host ? probe.available : CgroupHost.setUp().map { Set($0.controllers.keys) } ?? []
        func why(_ controller: CgroupController) -> String {
            config.containment == .processGroup
                ? "'containment: process-group' runs builds without cgroups" : probe.whyNot(controller)
        }
        var reported: Set<String> = []
        for job in config.jobs {
            // A Swift function runs inside the daemon: only the log cap applies to it.
            let inProcess =
                job.python == nil && ![FunctionRegistry.exec, FunctionRegistry.shell].contains(job.function)
            if inProcess {
                for (key, location) in job.resourceNodes.sorted(by: { $0.key < $1.key }) where key != "log_limit" {
                    diagnostics.append(
                        ConfigDiagnostic(
                            location,
                            "job '\(job.id)': '\(key)' applies to commands and Python functions, which run in a process of their own; '\(job.function)' runs inside the daemon"
                        ))
                }
                continue
            }
            for (key, controller) in job.resources.controllersNeeded where !available.contains(controller) {
                // A default is reported once, where it is written.
                if job.resourceNodes[key] == nil, let location = defaultsNodes[key] {
                    guard reported.insert(key).inserted else { continue }
                    diagnostics.append(
                        ConfigDiagnostic(
                            location, "'job_defaults.\(key)' cannot be enforced on this host: \(why(controller))"))
                    continue
                }
                let location =
                    job.resourceNodes[key] ?? job.location ?? SourceLocation(file: file, line: 1, column: 1)
                diagnostics.append(
                    ConfigDiagnostic(
                        location, "job '\(job.id)': '\(key)' cannot be enforced on this host: \(why(controller))"))
            }
        }
        return diagnostics
    }
}

/// What the limits of a configuration are checked against.
public enum LimitCheck: Sendable {
    /// This process's cgroups: the daemon loading its configuration.
    case thisProcess
    /// What the host could give the daemon as a service with `Delegate=yes` (`jobctl
    /// check-config`, run from a shell).
    case host
}
