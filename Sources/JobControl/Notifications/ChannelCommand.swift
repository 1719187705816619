import CLinux
import Dispatch
import FoundationEssentials
import Glibc
import Synchronization

/// Runs a notification's program (a command channel, `sendmail -t`): its input on stdin, its
/// output kept (the start of it) for the attempt's record, in a cgroup of its own where the
/// daemon has cgroups (`notify-<id>.<n>`, beside the builds'), else in a process group of its
/// own; either is killed when the program exits (nothing it started outlives it) or when
/// `timeout` passes.
enum ChannelCommand {
    struct Outcome {
        /// nil when it was killed at its timeout.
        var status: Int32?
        var signal: Int32?
        /// The start of what it wrote on stdout and stderr.
        var output: String

        var succeeded: Bool { status == 0 }

        var summary: String {
            let trimmed = output.trimmingBlanks(newlines: true)
            let said = trimmed.isEmpty ? "" : ": " + trimmed
            if let status { return "exit status \(status)\(said)" }
            if let signal { return "killed by signal \(signal)\(said)" }
            return "timed out\(said)"
        }
    }

    /// How much of the program's output is kept.
    static let keptOutput = 4096

    static func run(
        argv: [String], environment: [String: String], input: [UInt8], timeout: TimeInterval, name: String,
        cgroups: CgroupHost?
    )
        async throws(ProcessSpawner.Failure) -> Outcome
    {
        // The input is written to a file in memory first: a pipe would take 64 KiB at most
        // before the program runs (8 KiB for a user over its pipe quota).
        let reader = jobcontrol_memfd("jobcontrol-notification")
        guard reader >= 0 else { throw .system(errno) }
        var written = 0
        while written < input.count {
            let count = input[written...].withUnsafeBytes { write(reader, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                let code = errno
                close(reader)
                throw .system(code)
            }
            written += count
        }
        lseek(reader, 0, SEEK_SET)
        let spawnResult = await withCheckedContinuation {
            (
                continuation: CheckedContinuation<
                    (Result<ProcessSpawner.Spawned, ProcessSpawner.Failure>, BuildCgroup?), Never
                >
            ) in
            ProcessSpawner.spawnQueue.async {
                // Without a cgroup (none on this host, or it could not be made) the process group
                // contains it.
                let cgroup = cgroups.flatMap { try? BuildCgroup.create(prefix: name, host: $0, resources: .init()) }
                let files = try? cgroup?.openForSpawn()
                defer { files?.close() }
                let result = Result { () throws(ProcessSpawner.Failure) in
                    try ProcessSpawner.spawn(
                        argv: argv, environment: environment, workingDirectory: nil,
                        setup: .init(cgroup: files), stdin: reader)
                }
                if case .failure = result { cgroup?.remove() }
                continuation.resume(returning: (result, cgroup))
            }
        }
        close(reader)
        let spawned = try spawnResult.0.get()
        let cgroup = spawnResult.1
        let killedAtTimeout = Mutex(false)
        let pid = spawned.pid
        let timer = DispatchWorkItem {
            killedAtTimeout.withLock { $0 = true }
            kill(-pid, SIGKILL)
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: timer)
        let output = await withTaskGroup(of: [UInt8]?.self) { group in
            group.addTask { await drain(spawned.stdout) }
            group.addTask { await drain(spawned.stderr) }
            let (termination, _) = await ProcessSpawner.waitForExit(spawned)
            timer.cancel()
            // What it left running in its group (or cgroup) goes with it.
            kill(-pid, SIGKILL)
            if let cgroup {
                await cgroup.stop(grace: .zero)
                _ = try? await ProcessSpawner.offPool { cgroup.remove() }
            }
            // Output held open by a process that left the group is waited for 1 s at most.
            group.addTask {
                try? await Task.sleep(for: .seconds(1))
                return nil
            }
            var output: [UInt8] = []
            var drained = 0
            while drained < 2, let piece = await group.next() {
                guard let piece else {
                    group.cancelAll()  // the second: the readers stop
                    continue
                }
                drained += 1
                output += piece.prefix(max(0, keptOutput - output.count))
            }
            group.cancelAll()
            return (termination, output)
        }
        let text = String(decoding: output.1, as: UTF8.self)
        if killedAtTimeout.withLock({ $0 }) { return Outcome(status: nil, signal: nil, output: text) }
        switch output.0 {
        case .exited(let status): return Outcome(status: status, signal: nil, output: text)
        case .signaled(let signal): return Outcome(status: nil, signal: signal, output: text)
        }
    }

    /// Reads `fd` to its end (or until the task is cancelled), keeping the start; closes it.
    private static func drain(_ fd: Int32) async -> [UInt8] {
        var kept: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                if kept.count < keptOutput { kept += buffer[0..<min(count, keptOutput - kept.count)] }
                continue
            }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && errno == EAGAIN && !Task.isCancelled {
                await ProcessEvents.shared.readable(fd)
                continue
            }
            break
        }
        ProcessEvents.shared.forget(fd)
        close(fd)
        return kept
    }
}
