import Dispatch
import FoundationEssentials
import Glibc
import JobControl

/// The outcome of the last configuration reload, shown by `jobctl status` and in `STATUS=`.
public struct ReloadStatus: Sendable {
    public var time: Date
    /// Nil when the reload succeeded.
    public var errors: ConfigError?
    /// Keys that changed but take effect only at a restart (storage, socket).
    public var needsRestart: [String]

    public var succeeded: Bool { errors == nil }

    /// One line for people.
    public var summary: String {
        if let errors {
            return
                "last reload failed (\(errors.countText)); the previous configuration is still running"
        }
        if !needsRestart.isEmpty {
            return "last reload ok; restart to apply \(needsRestart.joined(separator: ", "))"
        }
        return "last reload ok"
    }
}
