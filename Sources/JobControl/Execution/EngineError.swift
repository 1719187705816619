/// Why the engine refused a request. Each says what to do next.
public enum EngineError: Error, Sendable, CustomStringConvertible {
    case noSuchJob(String)
    case shuttingDown
    case jobDisabled(String)
    case jobProtected(String)
    case noSuchBuild(Int64)
    case buildNotRunning(Int64)
    case buildRunning(Int64)
    /// A build not yet finished pinned it as a dependency.
    case buildInUse(Int64, by: Int64)
    case cleanupFailed(build: Int64, reason: String)
    case dependencyNotBuilt(job: String, dependency: String)
    case dependencyFailed(job: String, dependency: String, build: Int64)
    case badPin(job: String, dependency: String, reason: String)
    case notScheduled(String)
    /// A run's parameter values were refused (unknown, missing or invalid).
    case invalidParameters(job: String, ParameterError)
    case storage(StorageError)

    public var description: String {
        switch self {
        case .noSuchJob(let id):
            return "no job with id '\(id)'; 'jobctl jobs' lists the configured jobs"
        case .shuttingDown:
            return "jobcontrold is stopping and starts no new builds; try again once it is back"
        case .jobDisabled(let id):
            return "job '\(id)' is disabled ('enabled: false' in its configuration); enable it and reload to run it"
        case .jobProtected(let id):
            return "job '\(id)' is protected; run it with --force if you mean it"
        case .noSuchBuild(let id):
            return "no build with id \(id); 'jobctl builds' lists recent builds"
        case .buildNotRunning(let id):
            return "build \(id) has already finished; there is nothing to cancel"
        case .buildRunning(let id):
            return "build \(id) has not finished; cancel it first ('jobctl cancel \(id)')"
        case .buildInUse(let id, let user):
            return
                "build \(id) is pinned as a dependency by build \(user), which has not finished (its !retval reads it); delete it once that build has ended, or cancel that build"
        case .cleanupFailed(let build, let reason):
            return "the cleanup function of build \(build) failed, so the build was kept: \(reason)"
        case .dependencyNotBuilt(let job, let dependency):
            return
                "job '\(job)' depends on '\(dependency)', which has no successful build; run '\(dependency)' first, or use --build-deps"
        case .dependencyFailed(let job, let dependency, let build):
            return
                "'\(job)' was not run: its dependency '\(dependency)' did not succeed in build \(build) (a dependency must succeed, not be skipped); 'jobctl logs \(build)' shows why"
        case .badPin(_, _, let reason):
            return "cannot pin: \(reason); 'jobctl builds DEPENDENCY' lists its builds"
        case .invalidParameters(let job, let error):
            return "\(error); 'jobctl show \(job)' lists the job's parameters"
        case .notScheduled(let id):
            return "job '\(id)' has no schedule (or is not configured); 'jobctl next' lists the scheduled jobs"
        case .storage(let error) where error.isTransient:
            return "the storage is unavailable; try again once it is back (\(error.message.prefix { $0 != "\n" }))"
        case .storage(let error):
            return "storage error: \(error)"
        }
    }
}
