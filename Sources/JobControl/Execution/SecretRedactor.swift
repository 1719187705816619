import Dispatch
import FoundationEssentials
import Glibc

/// Replaces secret values with `***` wherever a build's text could carry them: log lines, the
/// exception (argv, stderr tail), the traceback and the return value. Nothing a build stores or
/// shows keeps a secret's value.
public struct SecretRedactor: Sendable {
    public static let mask = "***"
    /// Longest first, so a secret that contains another is masked whole.
    private let values: [String]

    public init(_ values: some Sequence<String>) {
        self.values = Set(values.filter { !$0.isEmpty }).sorted { $0.count > $1.count }
    }

    public var isEmpty: Bool { values.isEmpty }

    public func redact(_ text: String) -> String {
        guard !values.isEmpty else { return text }
        var text = text
        for value in values where text.contains(value) {
            text = text.replacing(value, with: Self.mask)
        }
        return text
    }

    public func redact(_ value: JSONValue) -> JSONValue {
        guard !values.isEmpty else { return value }
        switch value {
        case .string(let text): return .string(redact(text))
        case .array(let values): return .array(values.map(redact))
        case .object(let object):
            // Two keys may mask to the same text: the later one wins, nothing traps.
            return .object(
                Dictionary(object.map { (redact($0.key), redact($0.value)) }, uniquingKeysWith: { _, b in b }))
        default: return value
        }
    }
}
