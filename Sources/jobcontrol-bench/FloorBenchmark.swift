import CLinux
import Foundation
import Glibc
import JobControl

/// The floor under a recorded, contained build on this machine: the work that a build's record
/// and containment need, and nothing else. Per build: its start committed before its command
/// runs, a cgroup made, the command cloned into it with two pipes (the daemon's own `spawn.c`)
/// and a pidfd, its exit waited for with epoll, its output read to the end, its cgroup's
/// `cgroup.events` and `cpu.stat` read, its end and usage committed, the cgroup removed, in the
/// daemon's schema. One thread, `inFlight` builds at once: after each wait, the ends of the
/// builds that ended and the starts of those taking their places share one commit, the spawns
/// follow at once, and the ended builds' cgroups are removed after them. No daemon, no client
/// and its replies, no log lines, no in-build helpers, no tasks, actors or thread hand-overs.
///
/// What the daemon's fan-out reaches next to this is what the rest of the daemon costs; what
/// task-spooler reaches next to this says how far any design that records and contains every
/// build could get ahead of it on this machine.
enum FloorBenchmark {
    /// builds/s for `builds` builds of /bin/true, `inFlight` at once.
    static func run(builds: Int, inFlight: Int) throws -> Double {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jc-bench-floor-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("floor.sqlite3").path
        try SQLiteStorage(path: path).install()  // the daemon's schema, migrations and indexes
        let db = try SQLiteConnection(path: path, busyTimeout: 10)
        try db.execute(sql: "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL")
        // The cgroups' parent, as the daemon makes it (none on a host without usable cgroups:
        // process groups only, as the daemon then runs).
        let parent = CgroupHost.setUp()?.unified?.path
        let start = Bench.now()
        // The planned run: every build created in one transaction, as a --build-deps run does.
        let config = #"{"build":{"trigger":{"kind":"dependency"}},"job":{"id":"t","function":"jobcontrol:exec"}}"#
        let ids = try db.inTransaction(immediate: true) { db in
            try (0..<builds).map { index -> Int64 in
                try db.cachedStatement(sql: "INSERT INTO build (job_id, config) VALUES (?, ?)").execute(
                    arguments: ["t\(index)", config])
                return db.lastInsertedRowID
            }
        }
        let epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        defer { close(epoll) }
        var running: [Int32: Running] = [:]  // by pidfd
        var next = 0
        var done = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
        defer { free(argv[0]) }
        var ended: [(Running, String)] = []
        while done < builds {
            // The builds that ended and the ones that take their workers: their ends and starts
            // in one commit, then the spawns, then the ended builds' cgroups removed (the next
            // command does not wait for that).
            var starting: [Int64] = []
            while running.count + starting.count < inFlight, next < builds {
                starting.append(ids[next])
                next += 1
            }
            try db.inTransaction(immediate: true) { db in
                for (entry, cpu) in ended {
                    try db.cachedStatement(
                        sql:
                            "UPDATE build SET finished = 1, end_time = ?, success = 1, usage = ?, cgroup = ? WHERE id = ?"
                    ).execute(arguments: [
                        Date().timeIntervalSince1970, #"{"source":"cgroup","cpu":"\#(cpu.count)"}"#,
                        entry.cgroup ?? "", entry.id,
                    ])
                }
                for id in starting {
                    try db.cachedStatement(sql: "UPDATE build SET started = 1, start_time = ? WHERE id = ?")
                        .execute(arguments: [Date().timeIntervalSince1970, id])
                }
            }
            for id in starting {
                let entry = try spawn(id: id, argv: argv, parent: parent)
                _ = jobcontrol_epoll_arm(epoll, entry.pidfd, 1)
                running[entry.pidfd] = entry
            }
            for (entry, _) in ended {
                if let cgroup = entry.cgroup { rmdir(cgroup) }
                done += 1
            }
            ended = []
            guard !running.isEmpty else { continue }
            var ready = [Int32](repeating: -1, count: 64)
            let count = jobcontrol_epoll_wait(epoll, &ready, 64)
            for fd in ready.prefix(Int(max(0, count))) {
                guard let entry = running.removeValue(forKey: fd) else { continue }
                var code: Int32 = 0
                var status: Int32 = 0
                var usage = rusage()
                _ = jobcontrol_pidfd_reap(fd, 0, &code, &status, &usage)
                _ = jobcontrol_epoll_remove(epoll, fd)
                close(fd)
                for pipe in entry.pipes {
                    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 65_536) { buffer in
                        while read(pipe, buffer.baseAddress, buffer.count) > 0 {}
                    }
                    close(pipe)
                }
                var cpu = ""
                if let cgroup = entry.cgroup {
                    _ = readText(cgroup + "/cgroup.events")
                    cpu = readText(cgroup + "/cpu.stat")
                }
                ended.append((entry, cpu))
            }
        }
        return Double(builds) / (Bench.now() - start)
    }

    private struct Running {
        var id: Int64
        var pidfd: Int32
        var pipes: [Int32]
        var cgroup: String?
    }

    /// The build's cgroup, pipes and command (its own process group, created in the cgroup).
    private static func spawn(id: Int64, argv: [UnsafeMutablePointer<CChar>?], parent: String?) throws -> Running {
        var cgroup: String?
        var cgroupDirectory: Int32 = -1
        if let parent {
            let path = parent + "/build-\(id).1"
            guard mkdir(path, 0o755) == 0 else { throw FloorError(step: "mkdir \(path)", code: errno) }
            cgroup = path
            cgroupDirectory = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        }
        defer { if cgroupDirectory >= 0 { close(cgroupDirectory) } }
        var output: [Int32] = [-1, -1]
        var errors: [Int32] = [-1, -1]
        guard pipe2(&output, O_CLOEXEC) == 0, pipe2(&errors, O_CLOEXEC) == 0 else {
            throw FloorError(step: "pipe2", code: errno)
        }
        var pid: pid_t = 0
        var step: Int32 = 0
        let rc = argv.withUnsafeBufferPointer { argvPointer in
            var request = jobcontrol_spawn_request(
                path: argv[0], argv: argvPointer.baseAddress, envp: environ, working_directory: nil,
                stdout_fd: output[1], stderr_fd: errors[1], stdin_fd: -1, cgroup_fds: nil, cgroup_fd_count: 0,
                cgroup_dir_fd: cgroupDirectory, cgroup_dir_procs_index: -1, rlimits: nil, rlimit_count: 0,
                set_nice: 0, nice: 0)
            return jobcontrol_spawn(&request, &pid, &step)
        }
        close(output[1])
        close(errors[1])
        guard rc == 0 else { throw FloorError(step: "spawn (step \(step))", code: rc) }
        let pidfd = jobcontrol_pidfd_open(pid)
        guard pidfd >= 0 else { throw FloorError(step: "pidfd_open", code: errno) }
        for fd in [output[0], errors[0]] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        return Running(id: id, pidfd: pidfd, pipes: [output[0], errors[0]], cgroup: cgroup)
    }

    private static func readText(_ path: String) -> String {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return "" }
        defer { close(descriptor) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { buffer in
            let count = read(descriptor, buffer.baseAddress, buffer.count)
            return count > 0 ? String(decoding: UnsafeBufferPointer(rebasing: buffer[0..<count]), as: UTF8.self) : ""
        }
    }

    struct FloorError: Error, CustomStringConvertible {
        var step: String
        var code: Int32
        var description: String { "floor benchmark: \(step) failed: \(String(cString: strerror(code)))" }
    }
}
