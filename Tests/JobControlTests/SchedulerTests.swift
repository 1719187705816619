import Foundation
import Logging
import Synchronization
import Testing

@testable import JobControl

/// The scheduler on a clock the test moves: exactly-once occurrences, concurrency policies,
/// clock jumps, downtime and catch-up, deadlines, suspension. Builds run for real (Swift
/// functions), only time is simulated.
@Suite struct SchedulerTests {
    /// 2026-01-05 00:00:00 UTC, a Monday.
    static let t0: Int64 = 1_767_571_200_000_000
    static let hour: Int64 = 3_600_000_000

    final class FakeClock: Sendable {
        let value: Mutex<Int64>
        init(_ start: Int64) { value = Mutex(start) }
        func now() -> Int64 { value.withLock { $0 } }
        func set(_ instant: Int64) { value.withLock { $0 = instant } }
    }

    /// Lets `test:hold` builds end when the test says so.
    final class Gate: Sendable {
        let open = Mutex(false)
        func release() { open.withLock { $0 = true } }
    }

    struct Rig {
        let scheduler: Scheduler
        let engine: BuildEngine
        let storage: any Storage
        let clock: FakeClock
        let config: DaemonConfig

        /// A second scheduler on the same storage: the daemon after a restart.
        func restarted(at instant: Int64, registry: FunctionRegistry) async -> Rig {
            await scheduler.stop()
            clock.set(instant)
            let engine = BuildEngine(config: config, storage: storage, registry: registry, logger: SchedulerTests.quiet)
            let scheduler = Scheduler(
                engine: engine, storage: storage, logger: SchedulerTests.quiet, now: clock.now, bootTime: nil)
            await scheduler.start(config: config, useTimer: false)
            return Rig(scheduler: scheduler, engine: engine, storage: storage, clock: clock, config: config)
        }

        func occurrences(_ job: String) throws -> [Occurrence] {
            try storage.occurrences(jobID: job, outcome: nil, limit: 1000).reversed()
        }

        func builds(_ job: String) throws -> [Build] {
            try storage.getJobBuilds(jobID: job, filter: BuildFilter(), order: .ascending, limit: 1000)
        }

        func advance(to instant: Int64) async {
            clock.set(instant)
            await scheduler.tick()
        }

        func waitForBuildsToEnd(_ job: String) async throws {
            for build in try builds(job) where !build.finished { _ = try await engine.waitUntilFinished(build.id) }
        }
    }

    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    static func registry(gate: Gate = Gate()) -> FunctionRegistry {
        var registry = FunctionRegistry.builtins
        registry.register("test:quick") { _, _, _ in .string("done") }
        registry.register("test:hold") { _, _, _ in
            while !gate.open.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
            return nil
        }
        return registry
    }

    static func rig(_ jobs: String, gate: Gate = Gate(), at start: Int64 = t0) async throws -> (Rig, FunctionRegistry) {
        let registry = registry(gate: gate)
        let config = try ConfigLoader.parse(yaml: "jobs:\n" + jobs, file: "t.yaml", registry: registry)
        let storage = try StorageFactory.open(url: "sqlite::memory:")
        try storage.install()
        let clock = FakeClock(start)
        let engine = BuildEngine(config: config, storage: storage, registry: registry, logger: quiet)
        let scheduler = Scheduler(engine: engine, storage: storage, logger: quiet, now: clock.now, bootTime: nil)
        await scheduler.start(config: config, useTimer: false)
        return (Rig(scheduler: scheduler, engine: engine, storage: storage, clock: clock, config: config), registry)
    }

    @Test func eachOccurrenceRunsOnceAcrossTicksAndRestarts() async throws {
        let (rig, registry) = try await Self.rig(
            "  - {id: h, function: 'test:quick', schedule: hourly, timezone: UTC}\n")
        await rig.advance(to: Self.t0 + Self.hour - 1)
        #expect(try rig.builds("h").isEmpty)
        await rig.advance(to: Self.t0 + Self.hour)
        await rig.advance(to: Self.t0 + Self.hour + 10)  // a second wake-up for the same occurrence
        try await rig.waitForBuildsToEnd("h")
        #expect(try rig.builds("h").count == 1)
        // The build records the occurrence it was for.
        #expect(try rig.builds("h")[0].config["build"]?["trigger"]?["occurrence"] == "2026-01-05T01:00:00+00:00")
        // A restart just after: the same occurrence is not run again, the next one is.
        let again = await rig.restarted(at: Self.t0 + Self.hour + 20, registry: registry)
        await again.advance(to: Self.t0 + 2 * Self.hour)
        try await again.waitForBuildsToEnd("h")
        #expect(try again.occurrences("h").map(\.outcome) == [.started, .started])
        #expect(try again.builds("h").count == 2)
    }

    /// Of several daemons sharing a database only the scheduler-lock holder fires; a follower
    /// keeps the next runs, and when it takes over it goes on from what storage recorded.
    @Test func aFollowerFiresNothingAndTakesOverWhereTheLeaderStopped() async throws {
        let jobs = "  - {id: h, function: 'test:quick', schedule: hourly, timezone: UTC, persistent: true}\n"
        let (leader, registry) = try await Self.rig(jobs)
        await leader.advance(to: Self.t0 + Self.hour)
        try await leader.waitForBuildsToEnd("h")
        // A second daemon on the same storage, following.
        let engine = BuildEngine(config: leader.config, storage: leader.storage, registry: registry, logger: Self.quiet)
        let follower = Scheduler(
            engine: engine, storage: leader.storage, logger: Self.quiet, now: leader.clock.now, bootTime: nil)
        await follower.start(config: leader.config, useTimer: false, leading: false)
        #expect(await follower.nextStart()?.at == Self.t0 + 2 * Self.hour)
        leader.clock.set(Self.t0 + 2 * Self.hour + 5)
        await follower.tick()
        #expect(try leader.builds("h").count == 1, "a follower fired")
        #expect(await follower.nextStart()?.at == Self.t0 + 3 * Self.hour)
        // The leader dies before firing 02:00; the follower takes over and catches it up once.
        await leader.scheduler.stop()
        await follower.lead()
        let rig = Rig(
            scheduler: follower, engine: engine, storage: leader.storage, clock: leader.clock, config: leader.config)
        try await rig.waitForBuildsToEnd("h")
        #expect(try rig.occurrences("h").map(\.outcome) == [.started, .started])
        #expect(try rig.builds("h").count == 2)
        // And when it loses the lock again, it stops firing.
        await follower.follow()
        await rig.advance(to: Self.t0 + 3 * Self.hour)
        #expect(try rig.builds("h").count == 2)
    }

    /// A follower that takes over runs the configuration it was last given (a reload while it
    /// followed), not one read before it won the lock (the daemon passed it the engine's).
    @Test func aFollowerTakesOverWithTheConfigurationOfItsLastReload() async throws {
        let (leader, registry) = try await Self.rig(
            "  - {id: h, function: 'test:quick', schedule: hourly, timezone: UTC}\n")
        let engine = BuildEngine(config: leader.config, storage: leader.storage, registry: registry, logger: Self.quiet)
        let follower = Scheduler(
            engine: engine, storage: leader.storage, logger: Self.quiet, now: leader.clock.now, bootTime: nil)
        await follower.start(config: leader.config, useTimer: false, leading: false)
        let reloaded = try ConfigLoader.parse(
            yaml: "jobs:\n  - {id: h, function: 'test:quick', schedule: daily, timezone: UTC}\n", file: "t.yaml",
            registry: registry)
        _ = await engine.replaceConfig(reloaded)
        await follower.update(config: reloaded)
        await leader.scheduler.stop()
        await follower.lead()
        #expect(await follower.nextStart()?.at == Self.t0 + 24 * Self.hour)
    }

    /// An occurrence that comes due while the daemon stops (its engine takes no more builds) is
    /// not a failure of the job: nothing is recorded (it was recorded failed, with a failure
    /// notification), and the next start catches it up.
    @Test func anOccurrenceDueWhileStoppingIsLeftForTheNextStart() async throws {
        let (rig, registry) = try await Self.rig(
            "  - {id: h, function: 'test:quick', schedule: hourly, timezone: UTC, persistent: true}\n")
        await rig.advance(to: Self.t0 + Self.hour)
        try await rig.waitForBuildsToEnd("h")
        _ = await rig.engine.stopAccepting()
        await rig.advance(to: Self.t0 + 2 * Self.hour)
        #expect(try rig.occurrences("h").map(\.outcome) == [.started])
        let again = await rig.restarted(at: Self.t0 + 2 * Self.hour + 20, registry: registry)
        try await again.waitForBuildsToEnd("h")
        #expect(try again.occurrences("h").map(\.outcome) == [.started, .started])
        #expect(try again.builds("h").filter(\.success).count == 2)
    }

    @Test func wallClockSteppedBackDoesNotRepeatOccurrences() async throws {
        let (rig, _) = try await Self.rig("  - {id: h, function: 'test:quick', schedule: hourly, timezone: UTC}\n")
        await rig.advance(to: Self.t0 + Self.hour)
        await rig.advance(to: Self.t0 + Self.hour / 2)  // NTP steps the clock back 30 minutes
        await rig.advance(to: Self.t0 + Self.hour + 1)
        try await rig.waitForBuildsToEnd("h")
        #expect(try rig.builds("h").count == 1)
    }

    @Test func wallClockJumpingForwardRunsTheLatestOnceAndRecordsTheRest() async throws {
        let (rig, _) = try await Self.rig("  - {id: h, function: 'test:quick', schedule: hourly, timezone: UTC}\n")
        await rig.advance(to: Self.t0 + 5 * Self.hour + 60_000_000)  // suspended for five hours
        try await rig.waitForBuildsToEnd("h")
        #expect(try rig.builds("h").count == 1)
        let occurrences = try rig.occurrences("h")
        #expect(occurrences.map(\.outcome) == [.missed, .missed, .missed, .missed, .started])
        #expect(occurrences.last?.due == Self.t0 + 5 * Self.hour)
        #expect(occurrences[0].detail?.contains("wall clock jumped forward") == true)
    }

    @Test func forbidSkipsAndRecordsWhileABuildRuns() async throws {
        let gate = Gate()
        let (rig, _) = try await Self.rig("  - {id: f, function: 'test:hold', schedule: {every: 1m}}\n", gate: gate)
        await rig.advance(to: Self.t0 + 60_000_000)
        await rig.advance(to: Self.t0 + 120_000_000)
        gate.release()
        try await rig.waitForBuildsToEnd("f")
        await rig.advance(to: Self.t0 + 180_000_000)
        try await rig.waitForBuildsToEnd("f")
        let occurrences = try rig.occurrences("f")
        #expect(occurrences.map(\.outcome) == [.started, .skipped, .started])
        #expect(occurrences[1].detail?.contains("still running") == true)
        #expect(try rig.builds("f").count == 2)
    }

    @Test func queueRunsTheOccurrenceWhenTheBuildEnds() async throws {
        let gate = Gate()
        let (rig, _) = try await Self.rig(
            "  - {id: q, function: 'test:hold', schedule: {every: 1m}, concurrency: queue}\n", gate: gate)
        await rig.advance(to: Self.t0 + 60_000_000)
        await rig.advance(to: Self.t0 + 120_000_000)
        #expect(try rig.occurrences("q").map(\.outcome) == [.started, .queued])
        gate.release()
        try await waitFor { try rig.builds("q").count == 2 && rig.builds("q").allSatisfy(\.finished) }
        #expect(try rig.occurrences("q").map(\.outcome) == [.started, .started])
    }

    /// Suspending a job drops what waits in its queue (recorded skipped): those occurrences
    /// went on starting, one after another, after the suspend.
    @Test func suspendingAQueuedJobSkipsItsQueue() async throws {
        let gate = Gate()
        let (rig, _) = try await Self.rig(
            "  - {id: q, function: 'test:hold', schedule: {every: 1m}, concurrency: queue}\n", gate: gate)
        await rig.advance(to: Self.t0 + 60_000_000)
        await rig.advance(to: Self.t0 + 120_000_000)
        await rig.advance(to: Self.t0 + 180_000_000)
        #expect(try rig.occurrences("q").map(\.outcome) == [.started, .queued, .queued])
        try await rig.scheduler.suspend("q")
        let outcomes = try rig.occurrences("q")
        #expect(outcomes.map(\.outcome) == [.started, .skipped, .skipped], "\(outcomes)")
        #expect(outcomes.last?.detail?.contains("suspended") == true)
        gate.release()
        try await rig.waitForBuildsToEnd("q")
        #expect(try rig.builds("q").count == 1)
    }

    /// A reload that removes (or disables) a job with occurrences waiting in its queue records
    /// them as skipped: they waited for ever, and the next start ran them all, late.
    @Test func aReloadThatRemovesAQueuedJobSkipsItsQueue() async throws {
        let gate = Gate()
        let (rig, registry) = try await Self.rig(
            """
              - {id: q, function: 'test:hold', schedule: {every: 1m}, concurrency: queue}
              - {id: d, function: 'test:hold', schedule: {every: 1m}, concurrency: queue}
              - {id: other, command: 'true'}

            """, gate: gate)
        await rig.advance(to: Self.t0 + 60_000_000)
        await rig.advance(to: Self.t0 + 120_000_000)
        #expect(try rig.occurrences("q").map(\.outcome) == [.started, .queued])
        let reloaded = try ConfigLoader.parse(
            yaml: """
                jobs:
                  - {id: d, function: 'test:hold', schedule: {every: 1m}, concurrency: queue, enabled: false}
                  - {id: other, command: 'true'}
                """, file: "t.yaml", registry: registry)
        _ = await rig.engine.replaceConfig(reloaded)
        await rig.scheduler.update(config: reloaded)
        for job in ["q", "d"] {
            let outcomes = try rig.occurrences(job)
            #expect(outcomes.map(\.outcome) == [.started, .skipped], "\(job): \(outcomes)")
            #expect(outcomes.last?.detail?.contains("at a reload") == true)
        }
        gate.release()
    }

    @Test func replaceCancelsTheRunningBuild() async throws {
        let (rig, _) = try await Self.rig(
            "  - {id: r, function: 'test:hold', schedule: {every: 1m}, concurrency: replace}\n")
        await rig.advance(to: Self.t0 + 60_000_000)
        await rig.advance(to: Self.t0 + 120_000_000)
        try await waitFor { try rig.builds("r").first?.finished == true }
        let first = try rig.builds("r")[0]
        #expect(first.exception?["type"] == "Cancelled")
        #expect(first.exception?["message"]?.stringValue?.contains("replaced") == true)
        // The new build starts once the old one has ended: they never overlap.
        try await waitFor { try rig.builds("r").count == 2 && rig.builds("r")[1].started }
        let second = try rig.builds("r")[1]
        let (ended, started) = (try #require(first.endTime), try #require(second.startTime))
        #expect(started >= ended, "the replacement started before the replaced build ended")
        try await rig.engine.cancel(buildID: second.id)
    }

    /// A replaced build that takes its grace period to end (it ignores SIGTERM) holds up only its
    /// own replacement: another job due at the same time starts at once.
    @Test func aReplacementWaitsWithoutHoldingOtherJobs() async throws {
        let (rig, _) = try await Self.rig(
            """
              - {id: r, command: "trap '' TERM; sleep 30", schedule: {every: 1m}, concurrency: replace}
              - {id: z, command: 'true', schedule: {every: 1m}}

            """)
        await rig.advance(to: Self.t0 + 60_000_000)
        try await waitFor { try rig.builds("r").first?.started == true && rig.builds("z").first?.finished == true }
        await rig.advance(to: Self.t0 + 120_000_000)
        let tickOver = Date()
        // Holding the tick means waiting out the replaced build's whole grace (5 s: it ignores
        // SIGTERM) until it has ended: when the tick is over, it still runs, or it ended after
        // the tick (a test starved for seconds may look only then; a clock here failed once a
        // loaded machine took 2 s for the tick itself).
        let replaced = try #require(try rig.builds("r").first)
        #expect(
            !replaced.finished || (replaced.endTime ?? .distantPast) > tickOver, "the replacement's wait held the tick")
        #expect(try rig.builds("z").count == 2)
        #expect(try rig.builds("r").count == 1)
        // A third occurrence while the replacement still waits: it supersedes the second, which
        // is recorded as skipped; one replacement starts, after the replaced build has ended.
        await rig.advance(to: Self.t0 + 180_000_000)
        #expect(try rig.builds("r").count == 1)
        try await waitFor { try rig.builds("r").count == 2 && rig.builds("r")[1].started }
        let outcomes = try rig.occurrences("r").map(\.outcome)
        #expect(outcomes == [.started, .skipped, .started], "\(outcomes)")
        let (first, second) = (try rig.builds("r")[0], try rig.builds("r")[1])
        #expect(try #require(second.startTime) >= (try #require(first.endTime)))
        #expect(second.config["build"]?["trigger"]?["occurrence"] == "2026-01-05T00:03:00+00:00")
        try await rig.engine.cancel(buildID: second.id)
        try await rig.waitForBuildsToEnd("r")
    }

    @Test func allowRunsSideBySide() async throws {
        let gate = Gate()
        let (rig, _) = try await Self.rig(
            "  - {id: a, function: 'test:hold', schedule: {every: 1m}, concurrency: allow}\n", gate: gate)
        await rig.advance(to: Self.t0 + 60_000_000)
        await rig.advance(to: Self.t0 + 120_000_000)
        #expect(try rig.builds("a").count == 2)
        gate.release()
        try await rig.waitForBuildsToEnd("a")
    }

    @Test func downtimeIsRecordedAndPersistentJobsCatchUpTheLatest() async throws {
        let (rig, registry) = try await Self.rig(
            """
              - {id: p, function: 'test:quick', schedule: hourly, timezone: UTC, persistent: true}
              - {id: n, function: 'test:quick', schedule: hourly, timezone: UTC}

            """)
        await rig.advance(to: Self.t0 + Self.hour)
        try await rig.waitForBuildsToEnd("p")
        try await rig.waitForBuildsToEnd("n")
        // Down from 01:00 until 05:30.
        let again = await rig.restarted(at: Self.t0 + 5 * Self.hour + Self.hour / 2, registry: registry)
        try await again.waitForBuildsToEnd("p")
        let persistent = try again.occurrences("p")
        #expect(persistent.map(\.outcome) == [.started, .missed, .missed, .missed, .started])
        #expect(persistent.last?.due == Self.t0 + 5 * Self.hour)
        #expect(persistent.last?.detail?.contains("caught up") == true)
        let plain = try again.occurrences("n")
        #expect(plain.map(\.outcome) == [.started, .missed, .missed, .missed, .missed])
        #expect(plain.last?.detail?.contains("not running") == true)
        #expect(try again.builds("n").count == 1)
    }

    @Test func catchUpAllRunsEveryMissedOccurrenceWithinTheWindowInOrder() async throws {
        let (rig, registry) = try await Self.rig(
            "  - {id: all, function: 'test:quick', schedule: hourly, timezone: UTC, persistent: true, catch_up: all, catch_up_window: 3h}\n"
        )
        await rig.advance(to: Self.t0 + Self.hour)
        try await rig.waitForBuildsToEnd("all")
        let again = await rig.restarted(at: Self.t0 + 6 * Self.hour + 60_000_000, registry: registry)
        try await waitFor { try again.builds("all").count == 4 && again.builds("all").allSatisfy(\.finished) }
        let occurrences = try again.occurrences("all")
        // 02:00 and 03:00 are older than the 3h window; 04:00, 05:00 and 06:00 run in order.
        #expect(occurrences.map(\.outcome) == [.started, .missed, .missed, .started, .started, .started])
        let runOrder = try again.builds("all").dropFirst().compactMap {
            $0.config["build"]?["trigger"]?["occurrence"]?.stringValue
        }
        #expect(runOrder == ["2026-01-05T04:00:00+00:00", "2026-01-05T05:00:00+00:00", "2026-01-05T06:00:00+00:00"])
    }

    /// A persistent job's catch-up after downtime is bounded by catch_up_window, not by
    /// start_deadline (the sample nightly backup, with a window of a day and a deadline of two
    /// hours, never caught up after a downtime longer than two hours).
    @Test func aCatchUpWithinItsWindowIsNotCancelledByTheStartDeadline() async throws {
        let (rig, registry) = try await Self.rig(
            "  - {id: n, function: 'test:quick', schedule: daily, timezone: UTC, persistent: true, catch_up_window: 1d, start_deadline: 2h}\n"
        )
        await rig.advance(to: Self.t0 + 24 * Self.hour)
        try await rig.waitForBuildsToEnd("n")
        // Down over the next midnight until 05:00: that occurrence is 5 h late, within the window.
        let again = await rig.restarted(at: Self.t0 + 53 * Self.hour, registry: registry)
        try await waitFor { try again.builds("n").count == 2 && again.builds("n").allSatisfy(\.finished) }
        #expect(try again.occurrences("n").last?.outcome == .started)
    }

    @Test func anOccurrencePastItsStartDeadlineIsMissedNotRunLate() async throws {
        let (rig, _) = try await Self.rig(
            "  - {id: d, function: 'test:quick', schedule: hourly, timezone: UTC, start_deadline: 5m}\n")
        // The daemon was too busy to wake until 10 minutes after the due time.
        await rig.advance(to: Self.t0 + Self.hour + 600_000_000)
        #expect(try rig.builds("d").isEmpty)
        let occurrence = try #require(try rig.occurrences("d").last)
        #expect(occurrence.outcome == .missed)
        #expect(occurrence.detail?.contains("start_deadline") == true)
    }

    @Test func suspendedSchedulesDoNotRunAndResumeFromNow() async throws {
        let (rig, registry) = try await Self.rig(
            "  - {id: s, function: 'test:quick', schedule: hourly, timezone: UTC}\n")
        try await rig.scheduler.suspend("s")
        await rig.advance(to: Self.t0 + 2 * Self.hour)
        #expect(try rig.builds("s").isEmpty)
        // Still suspended after a restart.
        let again = await rig.restarted(at: Self.t0 + 2 * Self.hour + 1, registry: registry)
        #expect(await again.scheduler.isSuspended("s"))
        try await again.scheduler.resume("s")
        let next = try await again.scheduler.upcoming(jobID: "s").first?.next.first
        #expect(next == Self.t0 + 3 * Self.hour)
        await #expect(throws: EngineError.self) { try await again.scheduler.suspend("nope") }
    }

    /// Resumed, then restarted: what fell while the schedule was suspended neither runs nor is
    /// reported missed after the restart (the resume was kept in memory only, so the restart's
    /// recovery counted from the last occurrence before the suspension and caught it up).
    @Test func aResumedScheduleStaysResumedFromThenAcrossARestart() async throws {
        let (rig, registry) = try await Self.rig(
            "  - {id: p, function: 'test:quick', schedule: hourly, timezone: UTC, persistent: true}\n")
        await rig.advance(to: Self.t0 + Self.hour)
        try await rig.waitForBuildsToEnd("p")
        try await rig.scheduler.suspend("p")
        await rig.advance(to: Self.t0 + 5 * Self.hour + 30)
        try await rig.scheduler.resume("p")
        let again = await rig.restarted(at: Self.t0 + 5 * Self.hour + 60, registry: registry)
        try await again.waitForBuildsToEnd("p")
        #expect(try again.builds("p").count == 1, "an occurrence of the suspended period ran after the restart")
        let recorded = try again.occurrences("p")
        #expect(recorded.map(\.outcome) == [.started, .skipped], "\(recorded)")
        #expect(try again.occurrences("p").last?.detail?.contains("suspended") == true)
    }

    /// A reload that changes a job's schedule, or enables it again, starts it from the reload:
    /// what fell before is not due at once (a daily job moved from 02:30 to 03:00 ran at the
    /// reload; one disabled for a week ran at once and reported a week of missed runs).
    @Test func aReloadThatChangesOrEnablesAScheduleStartsItFromThen() async throws {
        let (rig, _) = try await Self.rig(
            """
              - {id: moved, function: 'test:quick', schedule: '*-*-* 02:30', timezone: UTC}
              - {id: off, function: 'test:quick', schedule: hourly, timezone: UTC, enabled: false}

            """)
        await rig.advance(to: Self.t0 + 2 * Self.hour + Self.hour / 2)
        try await rig.waitForBuildsToEnd("moved")
        #expect(try rig.builds("moved").count == 1)
        await rig.advance(to: Self.t0 + 10 * Self.hour)
        #expect(try rig.builds("off").isEmpty)
        let edited = try ConfigLoader.parse(
            yaml: """
                jobs:
                  - {id: moved, function: 'test:quick', schedule: '*-*-* 03:00', timezone: UTC}
                  - {id: off, function: 'test:quick', schedule: hourly, timezone: UTC}
                """, file: "t.yaml", registry: Self.registry())
        _ = await rig.engine.replaceConfig(edited)
        await rig.scheduler.update(config: edited)
        await rig.advance(to: Self.t0 + 10 * Self.hour + 1)
        #expect(try rig.builds("moved").count == 1, "the moved schedule ran at the reload")
        #expect(try rig.builds("off").isEmpty, "the job enabled again ran at the reload")
        #expect(try rig.occurrences("off").allSatisfy { $0.outcome == .skipped })
        #expect(!(try rig.occurrences("off").contains { $0.outcome == .missed }))
        // From then on, on time.
        await rig.advance(to: Self.t0 + 11 * Self.hour)
        try await rig.waitForBuildsToEnd("off")
        #expect(try rig.builds("off").count == 1)
    }

    @Test func randomizedDelaysStayWithinTheirBoundAndFixedOnesRepeat() async throws {
        let (rig, _) = try await Self.rig(
            """
              - {id: r, function: 'test:quick', schedule: hourly, timezone: UTC, randomized_delay: 10m}
              - {id: f, function: 'test:quick', schedule: hourly, timezone: UTC, randomized_delay: 10m, fixed_random_delay: true}

            """)
        let runs = try await rig.scheduler.upcoming(count: 1)
        for run in runs {
            let delay = try #require(run.startsAt) - run.next[0]
            #expect((0..<600_000_000).contains(delay))
        }
        let fixed = try #require(rig.config.job("f")?.schedule)
        #expect(fixed.startDelay(jobID: "f", due: Self.t0) == fixed.startDelay(jobID: "f", due: Self.t0 + Self.hour))
        let random = try #require(rig.config.job("r")?.schedule)
        let delays = Set((0..<10).map { random.startDelay(jobID: "r", due: Self.t0 + Int64($0) * Self.hour) })
        #expect(delays.count > 5)
    }
}

/// Polls `condition` every 10 ms for up to 20 s.
func waitFor(_ condition: () throws -> Bool) async throws {
    for _ in 0..<2000 {
        if try condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("condition not met within 20 s")
}

@Suite struct LongDowntimeTests {
    /// Fifty years of a per-second schedule missed (1.6 billion occurrences): recovery records the
    /// newest 100 and runs the latest. An implementation that walked the gap would not finish
    /// within the bound, however fast the machine.
    @Test func fiftyYearsOfMissedSecondsRecordTheNewestHundredAndRunTheLatest() async throws {
        let (rig, registry) = try await SchedulerTests.rig(
            "  - {id: m, function: 'test:quick', schedule: '*:*:*', timezone: UTC, persistent: true}\n")
        let second: Int64 = 1_000_000
        await rig.advance(to: SchedulerTests.t0 + second)
        try await rig.waitForBuildsToEnd("m")
        let downtime = 50 * 365 * 86_400 * second
        let started = ContinuousClock.now
        let again = await rig.restarted(at: SchedulerTests.t0 + downtime + second / 2, registry: registry)
        let elapsed = ContinuousClock.now - started
        try await again.waitForBuildsToEnd("m")
        let occurrences = try again.occurrences("m")
        // The first run, the newest 100 missed, and the latest, caught up.
        #expect(occurrences.count == 102)
        #expect(occurrences.last?.due == SchedulerTests.t0 + downtime && occurrences.last?.outcome == .started)
        #expect(occurrences[occurrences.count - 2].due == SchedulerTests.t0 + downtime - second)
        #expect(occurrences[1].detail?.contains("older missed occurrences are not recorded") == true)
        #expect(elapsed < .seconds(60), "recovery walked the gap instead of searching back from now")
    }

    @Test func aWeekAsleepRunsOneBuildNotABurst() async throws {
        let (rig, _) = try await SchedulerTests.rig(
            "  - {id: s, function: 'test:quick', schedule: '*:*:0/10', timezone: UTC}\n")
        await rig.advance(to: SchedulerTests.t0 + 7 * 86_400_000_000 + 5_000_000)
        await rig.advance(to: SchedulerTests.t0 + 7 * 86_400_000_000 + 6_000_000)  // another wake-up: nothing more
        try await rig.waitForBuildsToEnd("s")
        #expect(try rig.builds("s").count == 1)
        let occurrences = try rig.occurrences("s")
        #expect(occurrences.count == 101)
        #expect(
            occurrences.last?.due == SchedulerTests.t0 + 7 * 86_400_000_000 && occurrences.last?.outcome == .started)
    }
}
