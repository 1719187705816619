import Foundation
import Logging
import Testing

@testable import JobControl

/// An engine on a fresh in-memory database for `yaml`, logging nowhere.
func testEngine(_ yaml: String, registry: FunctionRegistry = .builtins) throws -> BuildEngine {
    let config = try ConfigLoader.parse(yaml: yaml, file: "test.yaml", registry: registry)
    let storage = try StorageFactory.open(url: "sqlite::memory:")
    try storage.install()
    return BuildEngine(
        config: config, storage: storage, registry: registry,
        logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
}

/// The diagnostics of a configuration that must not load (recording an issue when it does).
func configErrors(_ yaml: String, file: String = "test.yaml") -> [String] {
    do {
        _ = try ConfigLoader.parse(yaml: yaml, file: file)
        Issue.record("expected a configuration error")
        return []
    } catch {
        return error.diagnostics.map(\.description)
    }
}

/// Runs blocking work (waiting for child processes) on a thread of its own, so it does not hold
/// one of the few cooperative threads every other test needs.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread {
            // Signals go to other threads: an interrupted read makes Foundation's FileHandle trap.
            var signals = sigset_t()
            sigfillset(&signals)
            pthread_sigmask(SIG_BLOCK, &signals, nil)
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }.start()
    }
}
