import Dispatch
import FoundationEssentials
import Glibc

extension ConfigLoader {
    static let clusterKeys = ["node", "lease"]

    /// `cluster: {node: web-1, lease: 30s}`.
    static func readCluster(_ node: Node, reader: inout YAMLNodeReader) -> ClusterSettings {
        var settings = ClusterSettings()
        guard let entries = reader.mapping(node, what: "'cluster'") else { return settings }
        for entry in entries {
            switch entry.key {
            case "node":
                guard let name = reader.string(entry.value, what: "'cluster.node'") else { continue }
                if ClusterSettings.isValidNode(name) {
                    settings.node = name
                } else {
                    reader.error(
                        entry.value,
                        "'cluster.node' must be 1 to 64 letters, digits, '.', '_', '-', '@' or ':'; got '\(name)'")
                }
            case "lease":
                guard let seconds = readDuration(entry.value, reader: &reader, what: "'cluster.lease'"), let seconds
                else { continue }
                if ClusterSettings.leaseRange.contains(seconds) {
                    settings.lease = seconds
                } else {
                    reader.error(
                        entry.value, "'cluster.lease' must be between 1s and 1h; got \(DurationFormatter.text(seconds))"
                    )
                }
            default:
                reader.unknownKey(entry.key, entry.keyNode, in: "'cluster'", known: clusterKeys)
            }
        }
        return settings
    }
}
