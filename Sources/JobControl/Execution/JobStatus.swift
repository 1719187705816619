/// Where a job stands, as in the ancestor library: derived from its builds, never stored.
public enum JobStatus: String, Sendable, CaseIterable {
    /// No finished build yet.
    case notBuilt = "not_built"
    /// A build is running now.
    case running
    /// The latest finished build succeeded (or was skipped) and is up to date.
    case success
    /// The latest finished build failed.
    case failed
    /// The latest successful build pinned dependency builds that have newer successful builds since.
    case outdated
}

extension BuildEngine {
    /// The job's status and its latest build.
    public func status(of jobID: String) throws(EngineError) -> (status: JobStatus, latest: Build?) {
        guard let job = config.job(jobID) else { throw .noSuchJob(jobID) }
        do throws(StorageError) {
            let latest = try storage.getJobBuilds(jobID: jobID, filter: BuildFilter(), order: .descending, limit: 1)
                .first
            if try !storage.getJobBuilds(
                jobID: jobID, filter: BuildFilter(started: true, finished: false), order: .descending, limit: 1
            ).isEmpty {
                return (.running, latest)
            }
            guard
                let finished = try storage.getJobBuilds(
                    jobID: jobID, filter: BuildFilter(finished: true), order: .descending, limit: 1
                ).first
            else {
                return (.notBuilt, latest)
            }
            guard finished.success else { return (.failed, latest) }
            if let successful = try storage.getLatestSuccessfulBuild(jobID: jobID), try isOutdated(successful, of: job)
            {
                return (.outdated, latest)
            }
            return (.success, latest)
        } catch {
            throw .storage(error)
        }
    }
}
