import FoundationEssentials

extension Build {
    /// The build as JSON: the shape of the Varlink `Build` type and of `jobctl --json`.
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "id": .int(id),
            "job_id": .string(jobID),
            "state": .string(state.rawValue),
            "start_time": Timestamps.json(startTime),
            "end_time": Timestamps.json(endTime),
            "started": .bool(started),
            "finished": .bool(finished),
            "success": .bool(success),
            "skipped": .bool(skipped),
            "config": config,
            "retval": retval ?? .null,
            "exception": exception ?? .null,
            "exception_tb": exceptionTraceback ?? .null,
        ]
        if let node { object["node"] = .string(node) }
        if let usage { object["usage"] = usage.json }
        return .object(object)
    }

}
