/// How a command build's process is set up, resolved for one build (secrets included, so this
/// value is never stored or shown).
public struct ExecutionSettings: Sendable, Hashable {
    /// Added to the daemon's environment.
    public var environment: [String: String] = [:]
    public var workingDirectory: String?
    /// Run as this user (and their primary group unless `group` is set); needs a root daemon.
    public var user: String?
    public var group: String?

    public init(
        environment: [String: String] = [:], workingDirectory: String? = nil, user: String? = nil, group: String? = nil
    ) {
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.user = user
        self.group = group
    }
}
