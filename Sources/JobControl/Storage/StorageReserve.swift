import Dispatch
import FoundationEssentials
import Glibc

/// Disk space set aside beside a SQLite database (`<database>.reserve`, 512 KiB of zeros), given
/// back when the disk fills: once the held log lines have been given up on, what remains held
/// is builds' starts and ends, and these few pages let them be recorded, so `jobctl run --wait`
/// gets its answer instead of waiting for someone to free space. Made again at the next start,
/// or when the storage writes again with room to spare.
///
/// Ownership: none in memory; the file is the state, and creating or removing it twice is harmless.
final class StorageReserve: Sendable {
    let path: String
    static let size = 512 * 1024

    init(databasePath: String) {
        path = databasePath + ".reserve"
        create()
    }

    /// Writes the reserve when it is missing and the file system has four times its size free.
    /// True when the reserve is in place.
    @discardableResult
    func create() -> Bool {
        guard access(path, F_OK) != 0 else { return true }
        var info = statvfs()
        let directory = path.parentPath
        guard statvfs(directory, &info) == 0, UInt64(info.f_bavail) * UInt64(info.f_frsize) > UInt64(4 * Self.size)
        else { return false }
        let descriptor = open(path + ".new", O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return false }
        // Real blocks, not a hole: a sparse file would reserve nothing.
        let zeros = [UInt8](repeating: 0, count: 64 * 1024)
        var written = 0
        while written < Self.size {
            let count = zeros.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            written += count
        }
        close(descriptor)
        guard written >= Self.size, rename(path + ".new", path) == 0 else {
            unlink(path + ".new")
            return false
        }
        return true
    }

    /// Gives the space back; true when there was a reserve to give.
    func release() -> Bool {
        unlink(path) == 0
    }
}
