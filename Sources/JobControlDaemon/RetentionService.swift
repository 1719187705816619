import Dispatch
import FoundationEssentials
import Glibc
import JobControl
import Logging

/// Applies the retention policies shortly after start and then every `interval`, until cancelled.
struct RetentionService: Sendable {
    /// How often retention runs. Retention limits are days, so an hour is prompt enough.
    static let defaultInterval: Duration = .seconds(3600)

    let engine: BuildEngine
    let logger: Logger
    var interval: Duration = Self.defaultInterval

    func run() async {
        while !Task.isCancelled {
            do {
                let report = try await engine.prune(dryRun: false)
                if report.logRecords > 0 || report.buildCount > 0 || report.notifications > 0 {
                    logger.info(
                        "retention pruned old records",
                        metadata: [
                            "log.records": "\(report.logRecords)", "builds": "\(report.buildCount)",
                            "notifications": "\(report.notifications)",
                        ])
                }
            } catch {
                logger.error("retention failed; will try again", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }
}
