import Dispatch
import FoundationEssentials
import Glibc
import Logging

/// Recording a build's start and end: retried while the storage is unavailable, so a database
/// restart delays a build instead of failing it; and the finished build's record as the engine
/// knows it without reading it back.
extension BuildEngine {
    /// How long a build's start is retried while the storage fails (the build then fails), and
    /// after which a build's end, which is never given up on, is retried every 30 s.
    static let endRetryLimit: Duration = .seconds(600)

    /// Records a build's start (before its work runs: a started build is never run again after a
    /// crash), trying again while the storage is unavailable, as its end is: a database restart
    /// delays the build instead of failing it. Returns the start time recorded.
    nonisolated func recordStart(of id: Int64, context: BuildContext) async throws(StorageError) -> Date {
        let first = ContinuousClock.now
        var backoff: Duration = .milliseconds(100)
        while true {
            let now = Date()
            do {
                try await storage.startBuildAsync(id, at: now)
                return now
            } catch  where error.isTransient && ContinuousClock.now - first < Self.endRetryLimit {
                if backoff == .milliseconds(100) {
                    context.logger.warning(
                        "cannot record the start of a build yet; it waits and tries again",
                        metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(2))
            }
        }
    }

    /// The build as its end was just stored: times as the storage reads them back, JSON values
    /// through the same text round trip.
    static func finishedRecord(
        of build: Build, started: Date?, ended: Date, success: Bool, skipped: Bool, retval: JSONValue?,
        exception: BuildException?, usage: ResourceUsage? = nil
    ) -> Build {
        func stored(_ value: JSONValue?) -> JSONValue? { value.flatMap { try? Packing.unpack(Packing.pack($0)) } }
        return Build(
            id: build.id, jobID: build.jobID,
            startTime: started.map { Date(timeIntervalSince1970: $0.timeIntervalSince1970) },
            endTime: Date(timeIntervalSince1970: ended.timeIntervalSince1970), started: started != nil,
            finished: true, success: success, skipped: skipped, config: build.config, retval: stored(retval),
            exception: stored(exception?.json), exceptionTraceback: stored(exception?.traceback?.json),
            node: build.node,
            usage: usage
        )
    }

    /// Records a build's end, trying again for as long as the storage is unavailable (the update
    /// is idempotent, so repeating it is safe): a build whose end was given up on stayed RUNNING
    /// until the next start, even once the disk had room again. Only a stop of the daemon (the
    /// task cancelled) or a failure that will not pass ends the attempts; false then, and the
    /// next start's crash recovery finishes the build.
    @discardableResult
    nonisolated func recordEnd(
        of id: Int64, at endTime: Date, success: Bool, skipped: Bool, retval: JSONValue?, exception: BuildException?,
        notify: NotificationTrigger? = nil, context: BuildContext
    ) async -> Bool {
        let start = ContinuousClock.now
        var backoff: Duration = .milliseconds(100)
        var toldLong = false
        while true {
            do {
                try await storage.finishBuildAsync(
                    id, at: endTime, success: success, skipped: skipped, retval: retval, exception: exception?.json,
                    exceptionTraceback: exception?.traceback?.json, notify: notify)
                return true
            } catch  where error.isTransient && !Task.isCancelled {
                if backoff == .milliseconds(100) {
                    context.logger.warning(
                        "cannot record the end of a build yet; trying again", metadata: ["error": "\(error)"])
                }
                let long = ContinuousClock.now - start >= Self.endRetryLimit
                if long, !toldLong {
                    context.logger.error(
                        "still cannot record the end of a build after 10 minutes; trying every 30 s",
                        metadata: ["error": "\(error)"])
                    toldLong = true
                }
                try? await Task.sleep(for: long ? .seconds(30) : backoff)
                backoff = min(backoff * 2, .seconds(2))
            } catch {
                context.logger.error("cannot record the end of a build", metadata: ["error": "\(error)"])
                return false
            }
        }
    }

    static func logLinesLost(_ count: Int, reason: String) -> BuildException {
        BuildException(
            type: "LogLinesLost",
            message:
                "\(count) log line\(count == 1 ? "" : "s") of this build could not be stored (\(reason)); the command itself succeeded",
            details: ["log_lines_lost": .int(Int64(count))])
    }
}
