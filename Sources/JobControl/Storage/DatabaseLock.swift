import Dispatch
import FoundationEssentials
import Glibc

/// One daemon per SQLite database: an exclusive `flock(2)` on `DATABASE.lock`, held for the
/// daemon's life and released by the kernel when it ends, however it ends. A second daemon on
/// the same file is refused before it reads anything, so its crash recovery never touches the
/// builds of a daemon that is alive. (PostgreSQL daemons share a database on purpose; the
/// cluster's node locks keep them apart.)
///
/// Ownership: the descriptor is owned by this object and closed (releasing the lock) in deinit.
public final class DatabaseLock: Sendable {
    public let path: String
    private let descriptor: Int32

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// Takes the lock of the database behind `storageURL`; nil when that storage needs none
    /// (in memory, PostgreSQL). Throws `inUse`, naming the holder's pid, when another daemon has it.
    public static func acquire(storageURL url: String) throws(StorageError) -> DatabaseLock? {
        guard url.hasPrefix("sqlite://"), case let database = String(url.dropFirst("sqlite://".count)),
            database.hasPrefix("/")
        else {
            return nil
        }
        let path = database + ".lock"
        try? FileManager.default.createDirectory(
            atPath: database.parentPath, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o750])
        // O_CLOEXEC: a build's processes must not inherit the lock and keep it after the daemon.
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else {
            let reason = String(cString: strerror(errno))
            throw StorageError(
                .cannotOpen,
                "cannot open the lock file \(path): \(reason) (check that the daemon's user may write that directory)")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let failure = errno
            let holder = Self.readPID(descriptor)
            close(descriptor)
            guard failure == EWOULDBLOCK else {
                throw StorageError(.cannotOpen, "cannot lock \(path): \(String(cString: strerror(failure)))")
            }
            throw StorageError(
                .inUse,
                "another jobcontrold\(holder.map { " (pid \($0))" } ?? "") is using the database \(database); stop it first, or give this daemon its own storage (--storage)"
            )
        }
        // The holder's pid, for the message a second daemon prints.
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pwrite(descriptor, text, text.count, 0)
        return DatabaseLock(path: path, descriptor: descriptor)
    }

    private static func readPID(_ descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(descriptor, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        return Int32(String(decoding: buffer[..<count], as: UTF8.self).trimmingBlanks(newlines: true))
    }
}
