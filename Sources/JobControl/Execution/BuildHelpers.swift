import Dispatch
import FoundationEssentials
import Glibc

/// What a running build asks for through the in-build helpers (`jobctl progress|log|retval|skip`
/// with the build's `JOBCONTROL_TOKEN`).
public struct BuildRequests: Sendable, Hashable {
    /// Set by `jobctl retval`: the build's return value if it succeeds.
    public var retval: JSONValue?
    /// Set by `jobctl skip`: the build ends SKIPPED (with this reason) if it succeeds.
    public var skipReason: String?

    public init() {}
}

/// A running build as its token holder sees it.
struct ActiveBuild: Sendable {
    let buildID: Int64
    let jobID: String
    let redactor: SecretRedactor
    /// Shared with the build's output: `jobctl log` lines count against its `log_limit`.
    let logBudget: LogBudget
    let logLimit: UInt64
    var requests = BuildRequests()
}

/// Thrown by a job function to end its build SKIPPED instead of SUCCESSFUL or FAILED.
public struct BuildSkipped: Error, Sendable {
    public var reason: String
    public init(_ reason: String = "") { self.reason = reason }
}

/// Why an in-build helper call was refused.
public enum BuildHelperError: Error, Sendable, CustomStringConvertible {
    case invalidToken
    /// A return value the build could not store (too deep, too large, not finite): refused at
    /// the call, while the build can still say something else.
    case invalidRetval(String)

    public var description: String {
        switch self {
        case .invalidToken:
            return "the build token is not valid: the build has ended, or this is not running inside a build"
        case .invalidRetval(let reason):
            return "the return value cannot be stored: \(reason)"
        }
    }
}

extension BuildEngine {
    /// Reports progress for the build holding `token` (durable when it returns). Only the token
    /// lookup runs on the actor: the write is awaited outside it, so many builds' reports share a
    /// commit and no other call waits behind one.
    public nonisolated func reportProgress(token: String, _ report: ProgressReport) async throws -> Int64 {
        let build = try await activeBuild(token)
        var report = report
        report.statusLine = report.statusLine.map(build.redactor.redact)
        try await storage.reportBuildProgressAsync(build.buildID, [report])
        return build.buildID
    }

    /// Logs a line for the build holding `token` (durable when it returns); like
    /// ``reportProgress(token:_:)``, the write is awaited outside the actor.
    public nonisolated func log(
        token: String, level: LogLevel, message: String, logger: String = "jobctl", origin: LogRecord.Origin? = nil,
        traceback: JSONValue? = nil
    ) async throws {
        let build = try await activeBuild(token)
        let logger = Self.buildLoggerName(logger)
        // A long message becomes several records, as a command's long line does.
        let pieces = LineSplitter.pieces(of: message)
        // The traceback goes with the last piece only.
        let records = build.logBudget.admit(
            pieces.map {
                LogRecord(
                    buildID: build.buildID, level: level.rawValue, message: build.redactor.redact($0.text),
                    logger: logger, exceptionTraceback: $0.partial ? nil : traceback.map(build.redactor.redact),
                    partial: $0.partial, origin: origin)
            }, limit: build.logLimit)
        guard !records.isEmpty else { return }
        try await storage.logMessagesAsync(records)
        // Where the build's output goes too (the journal): its `jobctl log` lines were missing
        // there, though `jobctl logs` showed them.
        if let outputObserver { records.forEach { outputObserver($0, build.jobID) } }
    }

    /// The names of the records the daemon writes itself (`jobcontrol`: "build started",
    /// "attempt 2 starts", which crash recovery counts) and of a command's output (`stdout`,
    /// `stderr`). A build that logs under one of them (a Python logger named `jobcontrol`, a
    /// raw `Log` call), in any case, gets `build.` before it: its lines cannot pass for the
    /// daemon's own, nor use up its own retries after a crash. So does a name with anything but
    /// printable ASCII (a space, a control or zero-width character, a Cyrillic `о`): shown, it
    /// could look like one of these.
    static let reservedLoggerNames: Set<String> = ["jobcontrol", "stdout", "stderr"]

    /// The logger name a build's `Log` call is stored under.
    static func buildLoggerName(_ name: String) -> String {
        guard name.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else { return "build." + name }
        return reservedLoggerNames.contains(name.lowercased()) ? "build." + name : name
    }

    /// Sets the return value of the build holding `token`.
    public func setRetval(token: String, _ value: JSONValue) throws(BuildHelperError) {
        let build = try activeBuild(token)
        if let problem = Self.retvalProblem(value) { throw .invalidRetval(problem) }
        let size = value.jsonText().utf8.count
        if size > Self.maxRetvalBytes {
            throw .invalidRetval(
                "it is \(ByteSize.text(UInt64(size))) of JSON, and at most \(ByteSize.text(UInt64(Self.maxRetvalBytes))) is stored (write it to a file and set its path)"
            )
        }
        activeBuilds[token]?.requests.retval = build.redactor.redact(value)
    }

    /// Marks the build holding `token` to end SKIPPED (if it succeeds).
    public func skip(token: String, reason: String) throws {
        let build = try activeBuild(token)
        activeBuilds[token]?.requests.skipReason = build.redactor.redact(reason)
    }

    private func activeBuild(_ token: String) throws(BuildHelperError) -> ActiveBuild {
        guard let build = activeBuilds[token] else { throw .invalidToken }
        return build
    }
}
