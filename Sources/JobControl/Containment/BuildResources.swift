/// What a job's builds may take and leave behind: the limits, what happens to processes still
/// running when the build's command ends, and how much log a build may store.
///
/// The keys are named after systemd's resource-control settings (`MemoryMax=` is `memory_max`,
/// `TasksMax=` is `tasks_max`, `LimitNOFILE=` is `limit_nofile`, …) so administrators know them.
/// Set per job, or for every job under the top-level `job_defaults:`; a job's own value wins.
public struct BuildResources: Sendable, Hashable {
    /// `memory_max`: bytes the build's cgroup may use; past it the kernel's OOM killer stops a
    /// process of the build, and the build fails with `OutOfMemory`.
    public var memoryMax: UInt64?
    /// `cpu_quota`: percent of one CPU the build may use (`50%`; `200%` is two CPUs).
    public var cpuQuotaPercent: Int?
    /// `cpu_weight`: 1–10000, the share of CPU time under contention (systemd's default is 100).
    public var cpuWeight: Int?
    /// `tasks_max`: processes and threads the build may have at once (a fork bomb stops there).
    public var tasksMax: Int?
    /// `nice`: the scheduling priority of the command, -20 (first) to 19 (last).
    public var nice: Int?
    /// `limit_nofile`: the open-file limit (soft and hard) of the command.
    public var limitNOFILE: UInt64?
    /// `limit_core`: the largest core dump the command may write, in bytes (0: none).
    public var limitCORE: UInt64?
    /// `leftovers`: whether processes still running when the build's command exits are stopped
    /// (`kill`, the default) or left running (`keep`).
    public var leftovers: Leftovers?
    /// `log_limit`: bytes of log a build may store; further output is counted, not stored.
    public var logLimit: UInt64?

    public init() {}

    public enum Leftovers: String, Sendable, Hashable, CaseIterable {
        /// Stopped when the build ends: SIGTERM, the grace period, then SIGKILL (systemd's
        /// KillMode=control-group).
        case kill
        /// Left running, in the build's cgroup (systemd's KillMode=none).
        case keep
    }

    /// The default `log_limit`: 64 MiB of stored log per build.
    public static let defaultLogLimit: UInt64 = 64 * 1024 * 1024

    public var effectiveLeftovers: Leftovers { leftovers ?? .kill }
    public var effectiveLogLimit: UInt64 { logLimit ?? Self.defaultLogLimit }

    /// The cgroup controller each set limit needs, by key (for the configuration check).
    public var controllersNeeded: [(key: String, controller: CgroupController)] {
        var needed: [(String, CgroupController)] = []
        if memoryMax != nil { needed.append(("memory_max", .memory)) }
        if cpuQuotaPercent != nil { needed.append(("cpu_quota", .cpu)) }
        if cpuWeight != nil { needed.append(("cpu_weight", .cpu)) }
        if tasksMax != nil { needed.append(("tasks_max", .pids)) }
        return needed
    }

    /// `self` with every unset value taken from `defaults`.
    public func filled(from defaults: BuildResources) -> BuildResources {
        var result = self
        result.memoryMax = memoryMax ?? defaults.memoryMax
        result.cpuQuotaPercent = cpuQuotaPercent ?? defaults.cpuQuotaPercent
        result.cpuWeight = cpuWeight ?? defaults.cpuWeight
        result.tasksMax = tasksMax ?? defaults.tasksMax
        result.nice = nice ?? defaults.nice
        result.limitNOFILE = limitNOFILE ?? defaults.limitNOFILE
        result.limitCORE = limitCORE ?? defaults.limitCORE
        result.leftovers = leftovers ?? defaults.leftovers
        result.logLimit = logLimit ?? defaults.logLimit
        return result
    }

    /// The keys as configured (for `jobctl show`): only those set.
    public var configured: [(key: String, value: String)] {
        var values: [(String, String)] = []
        if let memoryMax { values.append(("memory_max", ByteSize.text(memoryMax))) }
        if let cpuQuotaPercent { values.append(("cpu_quota", "\(cpuQuotaPercent)%")) }
        if let cpuWeight { values.append(("cpu_weight", "\(cpuWeight)")) }
        if let tasksMax { values.append(("tasks_max", "\(tasksMax)")) }
        if let nice { values.append(("nice", "\(nice)")) }
        if let limitNOFILE { values.append(("limit_nofile", "\(limitNOFILE)")) }
        if let limitCORE { values.append(("limit_core", ByteSize.text(limitCORE))) }
        if let leftovers { values.append(("leftovers", leftovers.rawValue)) }
        if let logLimit { values.append(("log_limit", ByteSize.text(logLimit))) }
        return values
    }
}
