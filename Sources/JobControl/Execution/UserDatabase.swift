import Foundation

/// Looks users and groups up with the reentrant `getpwnam_r`/`getgrnam_r`: builds start
/// concurrently, and `getpwnam`'s static result buffer is shared by every thread.
enum UserDatabase {
    /// The uid and primary gid of `name`; nil when there is no such user.
    static func user(named name: String) -> (uid: uid_t, gid: gid_t)? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        while true {
            let status = getpwnam_r(name, &entry, &buffer, buffer.count, &result)
            if status == ERANGE, buffer.count < 1 << 20 {
                buffer = [CChar](repeating: 0, count: buffer.count * 4)
                continue
            }
            guard status == 0, result != nil else { return nil }
            return (entry.pw_uid, entry.pw_gid)
        }
    }

    /// The gid of `name`; nil when there is no such group.
    static func group(named name: String) -> gid_t? {
        var entry = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        while true {
            let status = getgrnam_r(name, &entry, &buffer, buffer.count, &result)
            if status == ERANGE, buffer.count < 1 << 20 {
                buffer = [CChar](repeating: 0, count: buffer.count * 4)
                continue
            }
            guard status == 0, result != nil else { return nil }
            return entry.gr_gid
        }
    }
}
