/// One problem found in a configuration file.
public struct ConfigDiagnostic: Sendable, Hashable, CustomStringConvertible {
    public var location: SourceLocation
    public var message: String

    public init(_ location: SourceLocation, _ message: String) {
        self.location = location
        self.message = message
    }

    /// `file:line:column: message`, the form compilers use, so editors can jump to it.
    public var description: String { "\(location): \(message)" }
}

/// A configuration that cannot be used. Carries every problem found, not only the first, so an
/// administrator fixes a file in one pass.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [ConfigDiagnostic]

    public init(_ diagnostics: [ConfigDiagnostic]) {
        self.diagnostics = diagnostics
    }

    public init(file: String, line: Int = 1, column: Int = 1, _ message: String) {
        self.diagnostics = [ConfigDiagnostic(SourceLocation(file: file, line: line, column: column), message)]
    }

    public var description: String {
        diagnostics.map(\.description).joined(separator: "\n")
    }

    /// "1 problem", "3 problems": for the one-line summaries (check, reload, start-up).
    public var countText: String { "\(diagnostics.count) \(diagnostics.count == 1 ? "problem" : "problems")" }
}
