import Foundation
import JobControl
import Testing

extension ExclusiveTests {
    /// Limits and accounting against the real binaries, enforced for real by this host's cgroups
    /// (v1 controllers beside an empty v2 on the hybrid test machines; v2 on Debian 12 hosts).
    @Suite(.serialized) struct LimitsTests {
        static let config = """
            workers: 2
            jobs:
              - id: hog
                command: ['python3', '-c', 'a = b"x" * (200 * 1024 * 1024)']
                memory_max: 64M
              - id: bomb
                # The shell forks once, before the bomb, then execs its sleep: none of its own
                # forks can meet the limit (dash forks each element of `f | f &` itself, and the
                # second fork could fail once the first child's bomb had filled the cgroup).
                command: '(f() { f | f & }; f) & exec sleep 30'
                tasks_max: 40
                timeout: 4s
              - id: burn
                # One second of CPU in user mode, then 100 MiB touched.
                command: ['python3', '-c', "import time\\nt = time.process_time()\\nwhile time.process_time() - t < 1: pass\\na = b'y' * (100 * 1024 * 1024)"]
              - id: throttled
                # Busy for 1.5 s of wall time at 20% of one CPU: about 0.3 s of CPU.
                command: ['python3', '-c', "import time\\nt = time.time()\\nwhile time.time() - t < 1.5: pass"]
                cpu_quota: 20%
              - id: files
                command: 'ulimit -n; ulimit -c'
                limit_nofile: 64
                limit_core: 0
                nice: 5
              - id: few-files
                # The lowest limit the check accepts, far below the daemon's own open descriptors.
                command: 'ulimit -n'
                limit_nofile: 4
            """

        @Test(.enabled(if: CgroupHost.probe.available.contains(.memory)))
        func aBuildPastItsMemoryLimitFailsWithOutOfMemory() async throws {
            let daemon = try await DaemonProcess(config: Self.config)
            let run = try await daemon.jobctl("run", "hog", "--wait")
            #expect(run.status == 1)
            let storage = try StorageFactory.open(url: "sqlite://" + daemon.database)
            let build = try #require(try storage.getBuild(1))
            #expect(build.exception?["type"] == "OutOfMemory", "\(build.exception ?? .null)")
            #expect(build.exception?["message"]?.stringValue?.contains("memory limit 64M") == true)
            let peak = try #require(build.usage?.memoryPeakBytes)
            #expect(peak <= 64 << 20 && peak > 32 << 20, "peak \(peak)")
            try await daemon.stop()
        }

        /// A fork bomb stops at tasks_max; the daemon answers meanwhile, and the timeout ends it all.
        @Test(.enabled(if: CgroupHost.probe.available.contains(.pids)))
        func aForkBombIsContainedAndTheDaemonStaysResponsive() async throws {
            let daemon = try await DaemonProcess(config: Self.config)
            #expect(try await daemon.jobctl("run", "bomb").status == 0)
            let storage = try StorageFactory.open(url: "sqlite://" + daemon.database)
            try await waitFor("the bomb to run") { (try? storage.getBuild(1))??.started == true }
            for _ in 0..<5 {
                let status = try await daemon.jobctl("status")
                #expect(status.status == 0, "the daemon did not answer during the fork bomb: \(status.stderr)")
                try await Task.sleep(for: .milliseconds(200))
            }
            try await waitFor("the bomb build to end", timeout: .seconds(30)) {
                (try? storage.getBuild(1))??.finished == true
            }
            let build = try #require(try storage.getBuild(1))
            #expect(build.exception?["type"] == "Timeout", "\(build.exception ?? .null)")
            let peak = try #require(build.usage?.tasksPeak)
            #expect(peak <= 40 && peak >= 10, "tasks peak \(peak)")
            try await daemon.stop()
        }

        @Test func cpuTimeAndPeakMemoryAreRecorded() async throws {
            let daemon = try await DaemonProcess(config: Self.config)
            let run = try await daemon.jobctl("run", "burn", "--wait")
            #expect(run.status == 0, "\(run.stdout)")
            let storage = try StorageFactory.open(url: "sqlite://" + daemon.database)
            let usage = try #require(try storage.getBuild(1)?.usage)
            let cpu = Double((usage.cpuUserMicroseconds ?? 0) + (usage.cpuSystemMicroseconds ?? 0)) / 1e6
            #expect(cpu >= 0.9 && cpu < 2.5, "cpu \(cpu) s (\(usage))")
            let peak = try #require(usage.memoryPeakBytes)
            #expect(peak >= 100 << 20 && peak < 400 << 20, "peak \(peak)")
            // Shown by jobctl build, and in its JSON.
            let shown = try await daemon.jobctl("build", "1")
            #expect(shown.stdout.contains("Resources:") && shown.stdout.contains("peak memory"), "\(shown.stdout)")
            let json = try await daemon.jobctl("--json", "build", "1")
            #expect(json.stdout.contains("\"memory_peak_bytes\""), "\(json.stdout)")
            try await daemon.stop()
        }

        @Test(.enabled(if: CgroupHost.probe.available.contains(.cpu)))
        func cpuQuotaThrottlesTheBuild() async throws {
            let daemon = try await DaemonProcess(config: Self.config)
            #expect(try await daemon.jobctl("run", "throttled", "--wait").status == 0)
            let storage = try StorageFactory.open(url: "sqlite://" + daemon.database)
            let usage = try #require(try storage.getBuild(1)?.usage)
            let cpu = Double((usage.cpuUserMicroseconds ?? 0) + (usage.cpuSystemMicroseconds ?? 0)) / 1e6
            // The upper bound is the quota's; the lower one only says the build ran (other suites
            // share both cores, and its cgroup competes with all of them).
            #expect(cpu > 0.01 && cpu < 0.7, "cpu \(cpu) s in 1.5 s at cpu_quota 20% (\(usage))")
            try await daemon.stop()
        }

        @Test func rlimitsAndNiceReachTheCommand() async throws {
            let daemon = try await DaemonProcess(config: Self.config)
            #expect(try await daemon.jobctl("run", "files", "--wait").status == 0)
            let logs = try await daemon.jobctl("logs", "1")
            #expect(logs.stdout.contains("stdout: 64\n"), "\(logs.stdout)")
            #expect(logs.stdout.contains("stdout: 0\n"), "\(logs.stdout)")
            // A limit below the daemon's own open descriptors: set after the command's stdin,
            // stdout and stderr are in place (set before, opening /dev/null for stdin failed).
            let few = try await daemon.jobctl("run", "few-files", "--wait")
            #expect(few.status == 0, "\(few.stdout)\(few.stderr)")
            #expect(try await daemon.jobctl("logs", "2").stdout.contains("stdout: 4\n"))
            try await daemon.stop()
        }

        /// A limit this host cannot enforce is a configuration error naming the key, not ignored.
        @Test func aLimitWithoutAControllerIsRejectedByTheConfigurationCheck() throws {
            let text = """
                containment: process-group
                jobs:
                  - id: capped
                    command: 'true'
                    memory_max: 64M
                """
            #expect {
                _ = try ConfigLoader.parse(yaml: text, file: "test.yaml")
            } throws: { error in
                let message = "\(error)"
                return message.contains("test.yaml:5:") && message.contains("'memory_max' cannot be enforced")
            }
        }
    }
}
