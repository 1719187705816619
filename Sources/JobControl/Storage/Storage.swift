import Foundation

/// The seed's `StorageBase`, in Swift: where builds, their progress and their logs live.
///
/// Implementations are thread-safe; calls block until the data is durable (or read).
/// This is the skeleton's subset; the full interface arrives with the storage issue.
public protocol Storage: Sendable {
    /// Creates or upgrades the schema (named, append-only migrations).
    func install() throws(StorageError)

    /// Creates a build for `jobID` holding `config` (the job config copy plus build config).
    func createBuild(jobID: String, config: JSONValue) throws(StorageError) -> Int64

    func getBuild(_ id: Int64) throws(StorageError) -> Build?

    /// Builds of one job (or of every job when `jobID` is nil), by id, filtered.
    func getJobBuilds(jobID: String?, filter: BuildFilter, order: SortOrder, limit: Int) throws(StorageError)
        -> [Build]

    /// The newest successful, not skipped build of a job.
    func getLatestSuccessfulBuild(jobID: String) throws(StorageError) -> Build?

    /// Marks a build RUNNING now.
    func startBuild(_ id: Int64) throws(StorageError)

    /// Marks a build finished now, with its outcome.
    func finishBuild(
        _ id: Int64, success: Bool, skipped: Bool, retval: JSONValue?, exception: JSONValue?,
        exceptionTraceback: JSONValue?
    ) throws(StorageError)

    /// Stores log records, in one transaction.
    func logMessages(_ records: [LogRecord]) throws(StorageError)

    /// Log records of a build (or all), oldest first, at `minLevel` or above.
    func iterLogMessages(buildID: Int64?, minLevel: Int?, limit: Int?) throws(StorageError) -> [LogRecord]

    /// Finishes every build left RUNNING or CREATED (by a daemon that died) as failed with `reason`.
    /// Returns the ids it finished.
    func failUnfinishedBuilds(reason: BuildException) throws(StorageError) -> [Int64]
}

extension Storage {
    public func logMessage(_ record: LogRecord) throws(StorageError) {
        try logMessages([record])
    }
}

/// Opens storage from a URL (`sqlite:///path`, `sqlite::memory:`).
public enum StorageFactory {
    public static func open(url: String) throws(StorageError) -> any Storage {
        if url == "sqlite::memory:" {
            return try SQLiteStorage(path: nil)
        }
        if url.hasPrefix("sqlite://") {
            let path = String(url.dropFirst("sqlite://".count))
            guard path.hasPrefix("/") else {
                throw StorageError(.badURL, "storage URL '\(url)' needs an absolute path, as in sqlite:///var/lib/jobcontrol/jobcontrol.sqlite3")
            }
            return try SQLiteStorage(path: path)
        }
        throw StorageError(.badURL, "unsupported storage URL '\(url)'; use sqlite:///path or sqlite::memory:")
    }
}
