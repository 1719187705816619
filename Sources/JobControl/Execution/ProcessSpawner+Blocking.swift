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

    /// Runs `argv` to its end on the calling thread, collecting what it writes; past `timeout`
    /// its process group is killed. For short checks off the build path (importing a Python
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
        // Until both pipes reach their end (the command and whatever it started are done with them).
        while !open.isEmpty {
            let left = deadline - ContinuousClock.now
            guard left > .zero else {
                timedOut = true
                break
            }
            var descriptors = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let milliseconds = Int32(
                min(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1, 60_000))
            guard poll(&descriptors, nfds_t(descriptors.count), milliseconds) >= 0 || errno == EINTR else { break }
            for descriptor in descriptors where descriptor.revents != 0 {
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
        let exited = rc == 0 && code == CLD_EXITED
        return Outcome(status: exited ? status : nil, output: output, timedOut: timedOut)
    }
}
