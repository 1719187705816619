import Dispatch
import FoundationEssentials
import Glibc

/// Parameters of the builds the engine creates (see ``JobParameter``).
extension BuildEngine {
    /// Checks the values a run would give `jobID`'s parameters, without creating anything.
    public func checkParameters(jobID: String, _ given: [String: JSONValue]) throws(EngineError) {
        guard let job = config.job(jobID) else { throw .noSuchJob(jobID) }
        do { _ = try job.bindParameters(given: given) } catch { throw .invalidParameters(job: jobID, error) }
    }

    /// The parameters that were secret in the job's configuration the build copied.
    nonisolated static func secretParameters(of build: Build) -> Set<String> {
        guard case .array(let declared)? = build.config["job"]?["parameters"] else { return [] }
        return Set(declared.compactMap { $0["secret"] == true ? $0["name"]?.stringValue : nil })
    }

    /// A build's `parameters` as stored: an object, or nothing.
    nonisolated static func object(_ value: JSONValue?) -> [String: JSONValue] {
        if case .object(let object)? = value { object } else { [:] }
    }
}
