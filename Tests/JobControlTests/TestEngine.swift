import Logging

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
