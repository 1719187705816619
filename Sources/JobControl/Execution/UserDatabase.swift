import Foundation

/// Looks users and groups up with the reentrant `getpwnam_r`/`getgrnam_r`: builds start
/// concurrently, and `getpwnam`'s static result buffer is shared by every thread.
enum UserDatabase {
    /// The uid and primary gid of `name`; nil when there is no such user.
    static func user(named name: String) -> (uid: uid_t, gid: gid_t)? {
        lookUp(passwd()) { entry, buffer, size, result in getpwnam_r(name, &entry, buffer, size, result) }
            .map { ($0.pw_uid, $0.pw_gid) }
    }

    /// The gid of `name`; nil when there is no such group.
    static func group(named name: String) -> gid_t? {
        lookUp(Glibc.group()) { entry, buffer, size, result in getgrnam_r(name, &entry, buffer, size, result) }
            .map(\.gr_gid)
    }

    /// Calls a `get…_r` function with a buffer that grows while it is too small (ERANGE).
    private static func lookUp<Entry>(
        _ empty: Entry,
        _ call: (inout Entry, UnsafeMutablePointer<CChar>, Int, UnsafeMutablePointer<UnsafeMutablePointer<Entry>?>) -> Int32
    ) -> Entry? {
        var entry = empty
        var result: UnsafeMutablePointer<Entry>?
        var size = 16 * 1024
        while true {
            var buffer = [CChar](repeating: 0, count: size)
            let status = buffer.withUnsafeMutableBufferPointer { call(&entry, $0.baseAddress!, size, &result) }
            if status == ERANGE, size < 1 << 20 {
                size *= 4
                continue
            }
            // The entry's strings point into the buffer; only its numbers are used, after it.
            return status == 0 && result != nil ? entry : nil
        }
    }
}
