import FoundationEssentials

extension BuildEngine {
    /// Runs `body`, cancelling it after `timeout` seconds (a command's process group is then torn
    /// down: SIGTERM, a grace period, SIGKILL) and failing with a `Timeout` exception.
    static func withTimeout(_ timeout: TimeInterval?, _ body: @escaping @Sendable () async throws -> JSONValue?)
        async throws -> JSONValue?
    {
        guard let timeout else { return try await body() }
        return try await withThrowingTaskGroup(of: JSONValue?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .seconds(timeout))
                throw BuildException(
                    type: "Timeout",
                    message: "timed out after \(DurationFormatter.text(timeout)); the build was stopped",
                    details: ["timeout_seconds": .double(timeout)])
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }
}
