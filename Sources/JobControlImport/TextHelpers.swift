import JobControlModel

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    var trimmed: String { trimmingBlanks() }
}
