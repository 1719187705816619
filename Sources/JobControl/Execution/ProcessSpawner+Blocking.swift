import CLinux
import Glibc

extension ProcessSpawner {
    /// How a command run by ``runToEnd(argv:environment:timeout:)`` ended.
    struct Outcome {
        /// The exit status, or nil when a signal ended it (or it was killed at the deadline).
        var status: Int32?
        /// Its stdout and stderr, interleaved as they arrived, at most `limit` bytes.
        var output: [UInt8]
        var timedOut: Bool
    }

    /// Runs `argv` to its end on the calling thread, collecting what it writes, until it has
    /// exited and its pipes are closed; past `timeout` its process group is killed (also when it
    /// closed its pipes and hangs, or left a process behind holding them). For short checks off the build path (importing a Python
    /// function while a configuration loads): a thread is blocked meanwhile.
    static func runToEnd(argv: [String], environment: [String: String], timeout: Duration, limit: Int = 65536)
        throws(Failure) -> Outcome
    {
        let spawned = try spawn(argv: argv, environment: environment, workingDirectory: nil)
        let deadline = ContinuousClock.now + timeout
        var output: [UInt8] = []
        var open = [spawned.stdout, spawned.stderr]
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 4096)
        var exited = false
        while !(exited && open.isEmpty) {
            let left = deadline - ContinuousClock.now
            guard left > .zero else {
                timedOut = true
                break
            }
            var descriptors = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            // The pidfd is readable once the process has exited.
            if !exited { descriptors.append(pollfd(fd: spawned.pidfd, events: Int16(POLLIN), revents: 0)) }
            let milliseconds = Int32(
                min(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1, 60_000))
            if poll(&descriptors, nfds_t(descriptors.count), milliseconds) < 0 {
                if errno == EINTR { continue }
                timedOut = true  // cannot wait any more: stop it rather than block in the reap
                break
            }
            for descriptor in descriptors where descriptor.revents != 0 {
                if descriptor.fd == spawned.pidfd {
                    exited = true
                    continue
                }
                let count = read(descriptor.fd, &buffer, buffer.count)
                if count > 0 {
                    output += buffer[0..<min(count, max(0, limit - output.count))]
                } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                    close(descriptor.fd)
                    open.removeAll { $0 == descriptor.fd }
                }
            }
        }
        for descriptor in open { close(descriptor) }
        if timedOut { kill(-spawned.pid, SIGKILL) }
        var code: Int32 = 0
        var status: Int32 = 0
        var resources = rusage()
        var rc: Int32
        repeat {
            rc = jobcontrol_pidfd_reap(spawned.pidfd, 0, &code, &status, &resources)
        } while rc != 0 && errno == EINTR
        close(spawned.pidfd)
        OrphanReaper.reaped(spawned.pid)
        let exitedNormally = rc == 0 && code == CLD_EXITED
        return Outcome(status: exitedNormally ? status : nil, output: output, timedOut: timedOut)
    }
}
