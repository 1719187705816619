import Foundation

/// How long log records are kept, by level: a record is deleted once it is older than the limit of
/// its level (and of every level above it, through "this level and below" pruning).
/// The default is the seed's policy.
public struct LogRetention: Sendable, Hashable {
    /// Level (DEBUG 10 … CRITICAL 50) mapped to the maximum age in seconds; nil keeps forever.
    public var maxAgeByLevel: [LogLevel: TimeInterval?]
    /// Records of any level older than this are deleted; nil keeps forever.
    public var anyLevel: TimeInterval?

    public init(maxAgeByLevel: [LogLevel: TimeInterval?], anyLevel: TimeInterval?) {
        self.maxAgeByLevel = maxAgeByLevel
        self.anyLevel = anyLevel
    }

    static let day: TimeInterval = 86_400

    /// Debug 15 days, info a month, warning 3 months, error and critical 6 months, any level a year.
    public static let `default` = LogRetention(
        maxAgeByLevel: [
            .debug: 15 * day, .info: 30 * day, .warning: 90 * day, .error: 180 * day, .critical: 180 * day,
        ],
        anyLevel: 365 * day)

    /// The prune steps this policy means: (level and below, max age), then any level.
    public var steps: [(level: Int?, maxAge: TimeInterval)] {
        var steps: [(level: Int?, maxAge: TimeInterval)] = LogLevel.allCases.compactMap { level in
            guard let age = maxAgeByLevel[level] ?? nil else { return nil }
            return (level.rawValue, age)
        }
        if let anyLevel { steps.append((nil, anyLevel)) }
        return steps
    }
}

/// How many finished builds of a job are kept. A build is deleted when it is beyond the newest
/// `keepLast`, or older than `maxAge` (by its end time). Never deleted: unfinished builds, the
/// latest successful build of the job (dependents pin it), and builds pinned by another build.
public struct BuildRetention: Sendable, Hashable {
    public var keepLast: Int?
    public var maxAge: TimeInterval?

    public init(keepLast: Int? = nil, maxAge: TimeInterval? = nil) {
        self.keepLast = keepLast
        self.maxAge = maxAge
    }

    public var isEmpty: Bool { keepLast == nil && maxAge == nil }
}
