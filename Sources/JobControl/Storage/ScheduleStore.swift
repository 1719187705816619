import Dispatch
import FoundationEssentials
import Glibc

/// What became of one scheduled occurrence of a job.
public enum OccurrenceOutcome: String, Sendable, Codable, CaseIterable {
    /// A build was started for it.
    case started
    /// Waiting for the job's running build to finish (`concurrency: queue`).
    case queued
    /// Not run because a build was still running (`concurrency: forbid`).
    case skipped
    /// A build could not be created (a dependency never built, the job disabled …).
    case failed
    /// Not run: the daemon was down or the clock jumped past it (and the job does not catch up
    /// that occurrence), or it could not start within `start_deadline`.
    case missed
}

/// One occurrence of a job's schedule and its outcome. `due` is the occurrence's instant in
/// microseconds since the epoch (the key: a job's occurrence is recorded once, ever).
public struct Occurrence: Sendable, Hashable {
    public var jobID: String
    public var due: Int64
    public var outcome: OccurrenceOutcome
    public var buildID: Int64?
    /// When the outcome was recorded.
    public var recorded: Date
    /// Why, for people (`build 41 still running`, `started 12m after its due time`).
    public var detail: String?

    public init(
        jobID: String, due: Int64, outcome: OccurrenceOutcome, buildID: Int64? = nil, recorded: Date = Date(),
        detail: String? = nil
    ) {
        self.jobID = jobID
        self.due = due
        self.outcome = outcome
        self.buildID = buildID
        self.recorded = recorded
        self.detail = detail
    }

    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "job": .string(jobID), "due": .string(ScheduleTime.iso8601(due, zone: .utc)),
            "outcome": .string(outcome.rawValue),
            "recorded": .string(ScheduleTime.iso8601(Int64(recorded.timeIntervalSince1970 * 1_000_000), zone: .utc)),
        ]
        if let buildID { object["build"] = .int(buildID) }
        if let detail { object["detail"] = .string(detail) }
        return .object(object)
    }
}

/// How creating a scheduled build records its occurrence, in the same transaction.
public enum OccurrenceStart: Sendable, Hashable {
    /// Records `occurrence` as started by the new build, unless the job already has one with the
    /// same due time (or, on PostgreSQL, the job is suspended).
    case claim(Occurrence)
    /// Moves the job's queued occurrence due at `due` to started by the new build, unless it is no
    /// longer queued.
    case fromQueue(jobID: String, due: Int64, detail: String?)

    var jobID: String {
        switch self {
        case .claim(let occurrence): occurrence.jobID
        case .fromQueue(let jobID, _, _): jobID
        }
    }

    var due: Int64 {
        switch self {
        case .claim(let occurrence): occurrence.due
        case .fromQueue(_, let due, _): due
        }
    }
}

/// The scheduler's durable state: occurrences (so none runs twice, across restarts and across
/// daemons sharing a database) and which jobs are suspended.
public protocol ScheduleStore: Sendable {
    /// Records `occurrence` unless the job already has one with the same due time. Returns true
    /// when this call recorded it: the caller owns the occurrence and may run it.
    /// `notify`: the notifications recording it causes (a missed occurrence), written in the
    /// same transaction when it is recorded.
    func claimOccurrence(_ occurrence: Occurrence, notify: NotificationTrigger?) throws(StorageError) -> Bool

    /// Creates a build of `jobID` (as ``Storage/createBuild(jobID:jobConfig:buildConfig:)``) and
    /// records the occurrence it runs for as `starting` says, in one transaction. Returns nil, and
    /// creates nothing, when the occurrence is taken.
    func createBuild(jobID: String, jobConfig: JSONValue, buildConfig: JSONValue, starting: OccurrenceStart)
        throws(StorageError)
        -> Int64?

    /// Changes the outcome (and build) of a recorded occurrence, with the notifications that
    /// causes in the same transaction.
    func updateOccurrence(
        jobID: String, due: Int64, outcome: OccurrenceOutcome, buildID: Int64?, detail: String?,
        notify: NotificationTrigger?
    )
        throws(StorageError)

    /// Occurrences of a job (or of every job), newest first.
    func occurrences(jobID: String?, outcome: OccurrenceOutcome?, limit: Int) throws(StorageError) -> [Occurrence]

    /// Suspends or resumes a job's schedule; survives restarts.
    func setSuspended(jobID: String, _ suspended: Bool) throws(StorageError)

    /// Every suspended job id.
    func suspendedJobs() throws(StorageError) -> Set<String>
}

extension ScheduleStore {
    /// Records `occurrence` with no notification.
    public func claimOccurrence(_ occurrence: Occurrence) throws(StorageError) -> Bool {
        try claimOccurrence(occurrence, notify: nil)
    }

    public func updateOccurrence(
        jobID: String, due: Int64, outcome: OccurrenceOutcome, buildID: Int64?, detail: String?
    ) throws(StorageError) {
        try updateOccurrence(jobID: jobID, due: due, outcome: outcome, buildID: buildID, detail: detail, notify: nil)
    }
}
