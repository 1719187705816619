import Glibc
import Synchronization

/// Zone files read once and kept while they stay the same file: loading a configuration names
/// the same few zones thousands of times (every job's `timezone:`, every expression ending in a
/// zone, the local zone for every expression's abbreviations), and reading and parsing the file
/// each time was most of a 10,000-job load.
///
/// A kept zone is used only while its file's device, inode, size, modification and change times
/// are those it was read with: a tzdata upgrade (which replaces the files) takes effect at the
/// next lookup, and so does a file rewritten in place with its size and modification time kept
/// (`cp -p`, `install -p`: every file of the tz database has the same modification time, and
/// many the same size), whose change time no program can set back. Loading a configuration
/// (start, reload) forgets every kept zone, so a reload always reads them afresh.
///
/// Ownership: `entries` is guarded by its `Mutex`; the kept `ZoneRules` are immutable.
final class ZoneCache: Sendable {
    /// The one the process's zone lookups use.
    static let shared = ZoneCache()
    /// What identifies the version of a file that was read.
    struct FileIdentity: Equatable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: timespec
        var changed: timespec

        init?(path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
            size = Int64(info.st_size)
            modified = info.st_mtim
            changed = info.st_ctim
        }

        static func == (a: FileIdentity, b: FileIdentity) -> Bool {
            a.device == b.device && a.inode == b.inode && a.size == b.size
                && a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec
                && a.changed.tv_sec == b.changed.tv_sec && a.changed.tv_nsec == b.changed.tv_nsec
        }
    }

    /// At most this many files are kept (the tz database has about 600 zones; names reach the
    /// daemon from its socket, so the table must not grow without bound). When full it starts over.
    static let capacity = 256

    private let entries = Mutex<[String: (identity: FileIdentity, rules: ZoneRules)]>([:])

    /// The zone read from `path` under `name`, from the cache while the file is unchanged;
    /// `read` parses the file's bytes otherwise.
    func rules(
        path: String, name: String, read: (String) throws(ZoneError) -> ZoneRules
    ) throws(ZoneError) -> ZoneRules {
        guard let identity = FileIdentity(path: path) else { throw .unknownZone(name) }
        let key = path + "\0" + name
        if let kept = entries.withLock({ $0[key] }), kept.identity == identity { return kept.rules }
        let rules = try read(path)
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = (identity, rules)
        }
        return rules
    }

    /// Forgets every kept zone.
    func clear() {
        entries.withLock { $0.removeAll() }
    }
}
