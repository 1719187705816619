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
}
