import Dispatch
import FoundationEssentials
import Glibc

/// Where a progress report belongs: a path of group names. `[]` is the build as a whole;
/// `["download", "file-3"]` is written `download::file-3`.
public struct ProgressGroup: Sendable, Hashable, Comparable, CustomStringConvertible {
    public static let separator = "::"
    /// The column is VARCHAR(128), as in the seed.
    public static let maxNameLength = 128

    public let parts: [String]

    public static let root = ProgressGroup(validParts: [])

    private init(validParts: [String]) {
        parts = validParts
    }

    /// From parts; each must be non-empty and free of `::`.
    public init(parts: [String]) throws(StorageError) {
        for part in parts where part.isEmpty || part.contains(Self.separator) {
            throw StorageError(
                .invalidArgument, "progress group part '\(part)' must be non-empty and must not contain '::'")
        }
        let name = parts.joined(separator: Self.separator)
        guard name.count <= Self.maxNameLength else {
            throw StorageError(
                .invalidArgument,
                "progress group name is \(name.count) characters; at most \(Self.maxNameLength) are allowed")
        }
        self.parts = parts
    }

    /// From a `::`-separated name; `""` is the root.
    public init(name: String) throws(StorageError) {
        try self.init(parts: name.isEmpty ? [] : name.components(separatedBy: Self.separator))
    }

    /// The stored form: parts joined by `::`.
    public var name: String { parts.joined(separator: Self.separator) }

    public var description: String { name }

    /// The enclosing group, nil for the root.
    public var parent: ProgressGroup? {
        parts.isEmpty ? nil : ProgressGroup(validParts: Array(parts.dropLast()))
    }

    /// Parents first, then children in name order.
    public static func < (lhs: ProgressGroup, rhs: ProgressGroup) -> Bool {
        lhs.parts.lexicographicallyPrecedes(rhs.parts)
    }
}

/// One progress report of a build (the seed's build progress row).
public struct ProgressReport: Sendable, Hashable {
    public var group: ProgressGroup
    public var current: Int64
    public var total: Int64
    public var statusLine: String?

    public init(group: ProgressGroup = .root, current: Int64, total: Int64, statusLine: String? = nil)
        throws(StorageError)
    {
        guard current >= 0, total >= 0 else {
            throw StorageError(.invalidArgument, "progress must not be negative (current \(current), total \(total))")
        }
        self.group = group
        self.current = current
        self.total = total
        self.statusLine = statusLine
    }
}

/// Progress of one group as shown to users: reported, or summed from its children.
public struct ProgressInfo: Sendable, Hashable {
    public var group: ProgressGroup
    public var current: Int64
    public var total: Int64
    public var statusLine: String?
    /// False when nobody reported this group and it shows the sum of its children.
    public var reported: Bool

    public init(group: ProgressGroup, current: Int64, total: Int64, statusLine: String?, reported: Bool) {
        self.group = group
        self.current = current
        self.total = total
        self.statusLine = statusLine
        self.reported = reported
    }

    /// Completes stored reports into the full tree: every ancestor of a reported group appears,
    /// and an ancestor without its own report shows the sum of its direct children. Sorted
    /// parents first. Every storage backend returns this, so the rule lives in one place.
    public static func tree(_ reports: [ProgressReport]) -> [ProgressInfo] {
        var nodes: [ProgressGroup: ProgressInfo] = [:]
        for report in reports {
            nodes[report.group] = ProgressInfo(
                group: report.group, current: report.current, total: report.total, statusLine: report.statusLine,
                reported: true)
        }
        for report in reports {
            var ancestor = report.group.parent
            while let group = ancestor, nodes[group] == nil {
                nodes[group] = ProgressInfo(group: group, current: 0, total: 0, statusLine: nil, reported: false)
                ancestor = group.parent
            }
        }
        // Deepest first, so a derived parent sums children that are already complete.
        for group in nodes.keys.sorted(by: { $0.parts.count > $1.parts.count }) {
            guard let node = nodes[group], let parent = group.parent, nodes[parent]?.reported == false else { continue }
            // Reports may be anything up to Int64.max each: a sum is held there, not trapped on.
            nodes[parent]!.current = nodes[parent]!.current.addingSaturated(node.current)
            nodes[parent]!.total = nodes[parent]!.total.addingSaturated(node.total)
        }
        return nodes.values.sorted { $0.group < $1.group }
    }
}
