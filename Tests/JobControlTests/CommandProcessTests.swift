import Foundation
import Testing

@testable import JobControl

/// What a command's process gets from `ProcessSpawner`, seen from inside it: only descriptors
/// 0–2, default signal dispositions (the daemon ignores SIGPIPE), its own process group, the
/// job's environment over the daemon's; and the clear errors when it cannot start.
@Suite struct CommandProcessTests {
    func lines(_ engine: BuildEngine, _ build: Build) throws -> [String] {
        try engine.storage.iterLogMessages(LogQuery(buildID: build.id)).map(\.message)
    }

    @Test func theProcessStartsClean() async throws {
        let engine = try testEngine(
            """
            jobs:
              - id: fds
                command: 'ls /proc/self/fd | sort -n | tr "\\n" " "; echo'
              - id: sigpipe
                command: 'yes | head -n 1; echo "yes ended with ${PIPESTATUS:-?}"; grep -E "^(SigIgn|SigBlk)" /proc/self/status'
              - id: group
                command: 'echo "pid $$ pgid $(ps -o pgid= -p $$ | tr -d " ")"'
              - id: env
                command: 'echo "HOME=$HOME GREETING=$GREETING"'
                environment: {HOME: /nowhere, GREETING: hi}
            """)
        var builds: [String: Build] = [:]
        for job in ["fds", "sigpipe", "group", "env"] {
            builds[job] = try await engine.waitUntilFinished(try await engine.run(jobID: job).id)
            #expect(builds[job]?.state == .successful, "\(job): \(String(describing: builds[job]?.exception))")
        }
        // ls itself opens one directory descriptor (3) while it lists.
        #expect(try lines(engine, builds["fds"]!).first == "0 1 2 3 ")
        let signals = try lines(engine, builds["sigpipe"]!)
        #expect(signals.contains("y"))
        // Signals 1–31 are not ignored (glibc keeps its internal 32 and 33 as they are).
        let ignored = signals.first { $0.hasPrefix("SigIgn:") }.flatMap {
            UInt64($0.dropFirst(7).trimmingBlanks(), radix: 16)
        }
        #expect(ignored.map { $0 & 0x7fff_ffff } == 0, "\(signals)")
        #expect(signals.contains { $0.hasPrefix("SigBlk:") && $0.hasSuffix("0000000000000000") }, "\(signals)")
        let group = try lines(engine, builds["group"]!).first ?? ""
        let words = group.split(separator: " ")
        #expect(words.count == 4 && words[1] == words[3], "\(group)")
        #expect(try lines(engine, builds["env"]!).first == "HOME=/nowhere GREETING=hi")
    }

    @Test func whatCannotStartFailsWithItsReason() async throws {
        let engine = try testEngine(
            """
            jobs:
              - {id: missing, command: [no-such-program-jobcontrol]}
              - {id: nodir, command: [/bin/true], working_directory: /no/such/directory}
              - {id: nul, command: [/bin/echo, "a\\0b"]}
            """)
        let expected = [
            "missing": "no such executable (searched PATH)", "nodir": "No such file or directory",
            "nul": "argument 1 contains a NUL byte, which a process cannot be given",
        ]
        for (job, reason) in expected {
            let build = try await engine.waitUntilFinished(try await engine.run(jobID: job).id)
            #expect(build.exception?["type"] == "SpawnFailed", "\(job)")
            #expect(
                build.exception?["message"]?.stringValue?.hasSuffix(reason) == true,
                "\(job): \(String(describing: build.exception))")
        }
    }
}

/// Crash recovery's orphan search never takes a newer, unrelated group for the crashed build's:
/// on a busy host the number wraps within minutes, and a process that took it and leads its own
/// group (a shell, another daemon's build) was signalled because it started after the leader.
@Suite struct OrphanGroupTests {
    @Test func aGroupNumberTakenByANewLeaderIsNotTheOrphans() throws {
        // A group of its own without a fork (setsid(1) forks when its caller leads a group, and
        // its child stays a member of the old group for a moment: a CI run saw two members).
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", "import os; os.setpgid(0, 0); os.execvp('sleep', ['sleep', '3'])"]
        try process.run()
        let pid = process.processIdentifier
        defer {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
        // Wait for the process to lead its own group (python's setpgid, before its exec).
        var start: Int64?
        for _ in 0..<500 {
            if let info = ProcessGroups.stat(of: pid), info.group == pid {
                start = info.start
                break
            }
            usleep(10_000)
        }
        let leaderStart = try #require(start, "\(pid) did not come to lead its own group")
        // Its own group, as recorded: found.
        #expect(ProcessGroups.members(group: pid, startTicks: leaderStart) == [pid])
        // A crashed build's group that had this number, with an earlier leader: not it.
        #expect(ProcessGroups.members(group: pid, startTicks: leaderStart - 1).isEmpty)
    }
}
