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

    /// The socket `jobctl` uses when neither `--socket` nor `JOBCONTROL_SOCKET` names one: the
    /// user's own daemon's (``default``) when it exists, else the system daemon's. An
    /// administrator in the `jobcontrol` group has `XDG_RUNTIME_DIR` set in every login session,
    /// and was sent to a per-user socket that no daemon listens on.
    public static var forClient: String {
        let own = `default`
        let system = "/run/jobcontrol/jobcontrol.sock"
        guard own != system else { return own }
        var info = stat()
        if stat(own, &info) == 0 { return own }
        return stat(system, &info) == 0 ? system : own
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
