import FoundationEssentials

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

    /// The policy as disjoint level bands, each with the age past which its records go:
    /// (above, up to and including, max age). A level's own setting wins (`never` included);
    /// levels without one, and levels above CRITICAL, use the any-level limit. Bands kept forever
    /// are left out.
    public var bands: [(above: Int?, upTo: Int?, maxAge: TimeInterval)] {
        var bands: [(above: Int?, upTo: Int?, maxAge: TimeInterval)] = []
        var previous: Int?
        for level in LogLevel.allCases {
            let age: TimeInterval? = if let own = maxAgeByLevel[level] { own } else { anyLevel }
            if let age { bands.append((previous, level.rawValue, age)) }
            previous = level.rawValue
        }
        if let anyLevel { bands.append((previous, nil, anyLevel)) }
        return bands
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
