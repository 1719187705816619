import Foundation

/// Starts `argv` with `environment` as a child of this process by `posix_spawn`, with every
/// signal unblocked and at its default as a build's command has them (the calling thread, a
/// Dispatch worker, blocks SIGTERM, and a child would inherit that); in a process group of its
/// own when `ownGroup`. Nothing else is done to it: the caller kills and reaps it.
func spawnPlain(_ argv: [String], _ environment: [String], ownGroup: Bool = false) throws -> pid_t {
    var pid: pid_t = 0
    let arguments = argv.map { strdup($0) } + [nil]
    let variables = environment.map { strdup($0) } + [nil]
    defer { (arguments + variables).forEach { free($0) } }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t()
    sigemptyset(&none)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setsigdefault(&attributes, &all)
    var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
    if ownGroup {
        posix_spawnattr_setpgroup(&attributes, 0)
        flags |= POSIX_SPAWN_SETPGROUP
    }
    posix_spawnattr_setflags(&attributes, Int16(flags))
    let status = posix_spawn(&pid, argv[0], nil, &attributes, arguments, variables)
    guard status == 0 else { throw POSIXError(POSIXErrorCode(rawValue: status) ?? .EIO) }
    return pid
}
