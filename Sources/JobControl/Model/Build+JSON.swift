import Foundation

/// Timestamps as ISO 8601 strings in UTC with milliseconds, everywhere JSON carries them.
public enum Timestamps {
    static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    public static func json(_ date: Date?) -> JSONValue {
        guard let date else { return .null }
        return .string(date.formatted(style))
    }

    public static func date(_ value: JSONValue?) -> Date? {
        guard let text = value?.stringValue else { return nil }
        return try? style.parse(text)
    }
}

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
        return .object(object)
    }

}
