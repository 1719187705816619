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
    /// The pid the lock file named when this daemon took it: the daemon that had the database
    /// before (dead now, since the lock was free). Crash recovery looks for what that daemon's
    /// builds left in its cgroups when their records never landed.
    public let previousHolder: Int32?
    private let descriptor: Int32

    private init(path: String, descriptor: Int32, previousHolder: Int32?) {
        self.path = path
        self.descriptor = descriptor
        self.previousHolder = previousHolder
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
        // The database's real path: a daemon reaching the same file through a symbolic link (of
        // the file or of a directory above it) takes the same lock, not one of its own.
        let path = Self.resolved(database) + ".lock"
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
        let previous = Self.readPID(descriptor)
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pwrite(descriptor, text, text.count, 0)
        return DatabaseLock(
            path: path, descriptor: descriptor, previousHolder: previous == getpid() ? nil : previous)
    }

    /// How many names the database file has, when more than one: a second daemon opening it
    /// under another name takes another lock and writes another WAL, which corrupts it. (The
    /// lock cannot be the file's own: closing any descriptor of it drops SQLite's locks.)
    public static func extraNames(storageURL url: String) -> Int? {
        guard url.hasPrefix("sqlite://") else { return nil }
        var info = stat()
        guard stat(String(url.dropFirst("sqlite://".count)), &info) == 0, info.st_nlink > 1 else { return nil }
        return Int(info.st_nlink) - 1
    }

    /// `database` with symbolic links resolved: the file's real path when it exists, else its
    /// directory's real path and its name.
    static func resolved(_ database: String) -> String {
        if let real = realpath(database, nil) {
            defer { free(real) }
            return String(cString: real)
        }
        guard let directory = realpath(database.parentPath, nil) else { return database }
        defer { free(directory) }
        let base = String(cString: directory)
        return (base == "/" ? "" : base) + "/" + database.lastPathComponentText
    }

    private static func readPID(_ descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(descriptor, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        return Int32(String(decoding: buffer[..<count], as: UTF8.self).trimmingBlanks(newlines: true))
    }
}
