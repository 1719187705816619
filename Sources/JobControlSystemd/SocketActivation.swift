import CSystemd
import Glibc

/// Sockets passed by the service manager (`sd_listen_fds(3)`): `LISTEN_FDS`, `LISTEN_PID`,
/// `LISTEN_FDNAMES`. Read once at start; the environment variables are then removed so child
/// processes do not see them.
public enum SocketActivation {
    public struct Socket: Sendable, Hashable {
        public var fileDescriptor: Int32
        public var name: String
    }

    /// The passed sockets, or an empty list when not socket-activated.
    public static func takeListeningSockets() -> [Socket] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let count = sd_listen_fds_with_names(1, &names)
        guard count > 0 else { return [] }
        defer {
            if let names {
                for index in 0..<Int(count) { free(names[index]) }
                free(names)
            }
        }
        return (0..<Int(count)).map { index in
            let name = names?[index].map { String(cString: $0) } ?? "unknown"
            return Socket(fileDescriptor: SD_LISTEN_FDS_START + Int32(index), name: name)
        }
    }

    /// Whether `fd` is a listening Unix stream socket (what the control socket must be).
    public static func isListeningUnixStream(_ fd: Int32) -> Bool {
        sd_is_socket_unix(fd, Int32(SOCK_STREAM.rawValue), 1, nil, 0) > 0
    }
}
