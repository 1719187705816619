import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#endif

/// Where the control socket lives when neither the configuration nor `--socket` says: shared by the
/// daemon's configuration and `jobctl`, which must agree without loading a configuration.
public enum ControlSocketPath {
    /// `/run/jobcontrol/jobcontrol.sock` as root; `$XDG_RUNTIME_DIR/jobcontrol/…` otherwise.
    public static var `default`: String {
        if geteuid() != 0, let runtime = getenv("XDG_RUNTIME_DIR").map({ String(cString: $0) }) {
            return runtime + "/jobcontrol/jobcontrol.sock"
        }
        return "/run/jobcontrol/jobcontrol.sock"
    }

    /// The socket beside `control` that serves running builds' own calls (`io.jobcontrol.Build`,
    /// authorized by each build's token) to any local user: a build that runs as another user
    /// (`user:`) may not open the control socket (mode 0660), and its `jobctl progress` and
    /// `jobctl log` go there instead (`JOBCONTROL_BUILD_SOCKET`).
    /// `jobcontrol.sock` → `jobcontrol-build.sock`.
    public static func builds(beside control: String) -> String {
        control.hasSuffix(".sock") ? String(control.dropLast(5)) + "-build.sock" : control + "-build"
    }
}
