import FoundationEssentials

extension BuildEngine {
    /// Runs `body`, cancelling it after `timeout` seconds (a command's process group is then torn
    /// down: SIGTERM, a grace period, SIGKILL) and failing with a `Timeout` exception, unless
    /// `commandEnded` says by then that the command has already ended on its own and handed its
    /// worker back (the build is recorded as ending at that moment, before the timeout): then
    /// `body` is left to assemble the command's outcome.
    static func withTimeout(
        _ timeout: TimeInterval?, commandEnded: @escaping @Sendable () -> Bool,
        _ body: @escaping @Sendable () async throws -> JSONValue?
    )
        async throws -> JSONValue?
    {
        guard let timeout else { return try await body() }
        enum Finished: Sendable {
            case returned(JSONValue?)
            case lateTimer
        }
        return try await withThrowingTaskGroup(of: Finished.self) { group in
            group.addTask { .returned(try await body()) }
            group.addTask {
                try await Task.sleep(for: .seconds(timeout))
                if commandEnded() { return .lateTimer }
                throw BuildException(
                    type: "Timeout",
                    message: "timed out after \(DurationFormatter.text(timeout)); the build was stopped",
                    details: ["timeout_seconds": .double(timeout)])
            }
            defer { group.cancelAll() }
            while let finished = try await group.next() {
                if case .returned(let value) = finished { return value }
            }
            return nil  // not reached: the body's task either returns or throws
        }
    }
}
