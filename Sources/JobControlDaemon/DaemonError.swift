import JobControl

/// Why the daemon could not start. The executable maps each to an exit status.
public enum DaemonError: Error, Sendable, CustomStringConvertible {
    /// The configuration is invalid: exit status 78 (EX_CONFIG), so a unit with
    /// `RestartPreventExitStatus=78` does not restart in a loop.
    case config(ConfigError)
    case storage(StorageError)
    /// The control socket could not be set up.
    case socket(path: String, reason: String)
    /// The HTTP listener (`http.listen`) could not be set up.
    case http(listen: String, reason: String)

    public var description: String {
        switch self {
        case .config(let error): return error.description
        case .storage(let error): return "storage: \(error)"
        case .socket(let path, let reason): return "control socket \(path): \(reason)"
        case .http(let listen, let reason): return "HTTP listener \(listen) (http.listen): \(reason)"
        }
    }

    /// The exit status the executable uses (sysexits.h).
    public var exitStatus: Int32 {
        switch self {
        case .config: return 78  // EX_CONFIG
        case .storage: return 74  // EX_IOERR
        case .socket, .http: return 71  // EX_OSERR
        }
    }
}
