import Foundation
import Testing

@testable import JobControl

/// The documentation's complete configuration examples are valid configurations: an
/// administrator pastes them (one in notifications.md named an undefined secret, a job that did
/// not exist and a CA file nobody has, and check-config refused it).
@Suite struct DocExamplesTests {
    /// (file, which ```yaml block, 1-based): the examples meant to be whole files.
    static let complete: [(String, Int)] = [
        ("README.md", 1), ("docs/operations.md", 1), ("docs/notifications.md", 1), ("docs/notifications.md", 5),
    ]

    @Test func completeExamplesAreValidConfigurations() throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        for (file, number) in Self.complete {
            let text = try String(contentsOf: repository.appendingPathComponent(file), encoding: .utf8)
            let blocks = text.components(separatedBy: "```yaml\n").dropFirst().map {
                $0.components(separatedBy: "```")[0]
            }
            guard number <= blocks.count else {
                Issue.record("\(file) has no yaml block \(number)")
                continue
            }
            let block = blocks[number - 1]
            #expect(
                block.contains("\njobs:") || block.hasPrefix("jobs:"), "\(file) block \(number) is not a whole file")
            do {
                _ = try ConfigLoader.parse(yaml: block, file: "\(file) block \(number)")
            } catch {
                Issue.record("\(file) block \(number): \(error.diagnostics.map(\.description))")
            }
        }
    }
}
