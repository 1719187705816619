import Dispatch
import FoundationEssentials
import Glibc

/// Looks users and groups up with the reentrant `get…_r` functions: builds start and control
/// connections are authorized concurrently, and `getpwnam`'s static result buffer is shared by
/// every thread.
enum UserDatabase {
    /// The uid and primary gid of `name`; nil when there is no such user.
    static func user(named name: String) -> (uid: uid_t, gid: gid_t)? {
        lookUp(passwd(), { getpwnam_r(name, &$0, $1, $2, $3) }) { ($0.pw_uid, $0.pw_gid) }
    }

    /// The name and primary gid of `uid`; nil when no user has it.
    static func user(id uid: uid_t) -> (name: String, gid: gid_t)? {
        lookUp(passwd(), { getpwuid_r(uid, &$0, $1, $2, $3) }) { (String(cString: $0.pw_name), $0.pw_gid) }
    }

    /// The gid of `name`; nil when there is no such group.
    static func group(named name: String) -> gid_t? {
        lookUp(Glibc.group(), { getgrnam_r(name, &$0, $1, $2, $3) }) { $0.gr_gid }
    }

    /// The name of group `gid`; nil when there is none.
    static func groupName(id gid: gid_t) -> String? {
        lookUp(Glibc.group(), { getgrgid_r(gid, &$0, $1, $2, $3) }) { String(cString: $0.gr_name) }
    }

    /// Calls a `get…_r` function with a buffer that grows while it is too small (ERANGE), and
    /// reads what is wanted from the entry while its strings (in the buffer) are valid.
    private static func lookUp<Entry, Value>(
        _ empty: Entry,
        _ call: (inout Entry, UnsafeMutablePointer<CChar>, Int, UnsafeMutablePointer<UnsafeMutablePointer<Entry>?>) ->
            Int32,
        _ value: (Entry) -> Value
    ) -> Value? {
        var entry = empty
        var result: UnsafeMutablePointer<Entry>?
        var size = 16 * 1024
        while true {
            var buffer = [CChar](repeating: 0, count: size)
            let found: Value?? = buffer.withUnsafeMutableBufferPointer { pointer in
                let status = call(&entry, pointer.baseAddress!, size, &result)
                if status == ERANGE, size < 1 << 20 { return nil }
                return .some(status == 0 && result != nil ? value(entry) : nil)
            }
            if let found { return found }
            size *= 4
        }
    }
}
