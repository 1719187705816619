import Foundation
import Testing

@testable import JobControl

/// The scheduler's durable state, on every backend: an occurrence is claimed once, ever.
@Suite struct ScheduleStoreConformanceTests {
    @Test(arguments: Backend.allCases) func anOccurrenceIsClaimedOnce(_ backend: Backend) throws {
        let storage = try backend.make()
        let due: Int64 = 1_764_400_000_000_000
        #expect(try storage.claimOccurrence(Occurrence(jobID: "a", due: due, outcome: .started)))
        #expect(try !storage.claimOccurrence(Occurrence(jobID: "a", due: due, outcome: .started)))
        #expect(try storage.claimOccurrence(Occurrence(jobID: "b", due: due, outcome: .skipped, detail: "busy")))
        #expect(try storage.claimOccurrence(Occurrence(jobID: "a", due: due + 1, outcome: .missed)))
        try storage.updateOccurrence(jobID: "a", due: due, outcome: .started, buildID: 7, detail: "late")

        let ofA = try storage.occurrences(jobID: "a", outcome: nil, limit: 10)
        #expect(ofA.map(\.due) == [due + 1, due])
        #expect(ofA[1].buildID == 7 && ofA[1].detail == "late")
        #expect(try storage.occurrences(jobID: nil, outcome: .skipped, limit: 10).map(\.jobID) == ["b"])
        #expect(try storage.occurrences(jobID: nil, outcome: nil, limit: 1).count == 1)
    }

    /// A scheduled build and its occurrence are recorded together or not at all.
    @Test(arguments: Backend.allCases) func aScheduledBuildAndItsOccurrenceAreOneWrite(_ backend: Backend) throws {
        let storage = try backend.make()
        let due: Int64 = 1_764_400_000_000_000
        let first = try #require(
            try storage.createBuild(
                jobID: "a", jobConfig: ["id": "a"], buildConfig: [:],
                starting: .claim(Occurrence(jobID: "a", due: due, outcome: .started, detail: "late"))))
        let recorded = try #require(try storage.occurrences(jobID: "a", outcome: nil, limit: 10).first)
        #expect(recorded.outcome == .started && recorded.buildID == first && recorded.detail == "late")
        // Taken: nothing is created.
        #expect(
            try storage.createBuild(
                jobID: "a", jobConfig: [:], buildConfig: [:],
                starting: .claim(Occurrence(jobID: "a", due: due, outcome: .started))) == nil)
        #expect(
            try storage.getJobBuilds(jobID: "a", filter: BuildFilter(), order: .ascending, limit: 10).map(\.id) == [
                first
            ])
        // From the queue: only a queued occurrence moves, once.
        #expect(try storage.claimOccurrence(Occurrence(jobID: "a", due: due + 1, outcome: .queued)))
        let second = try #require(
            try storage.createBuild(
                jobID: "a", jobConfig: [:], buildConfig: [:],
                starting: .fromQueue(jobID: "a", due: due + 1, detail: "ran from the queue")))
        #expect(
            try storage.createBuild(
                jobID: "a", jobConfig: [:], buildConfig: [:],
                starting: .fromQueue(jobID: "a", due: due + 1, detail: nil)) == nil)
        #expect(
            try storage.createBuild(
                jobID: "a", jobConfig: [:], buildConfig: [:],
                starting: .fromQueue(jobID: "a", due: due + 2, detail: nil)) == nil)
        let moved = try #require(try storage.occurrences(jobID: "a", outcome: nil, limit: 10).first)
        #expect(moved.due == due + 1 && moved.outcome == .started && moved.buildID == second)
        #expect(try storage.getJobBuilds(jobID: "a", filter: BuildFilter(), order: .ascending, limit: 10).count == 2)
    }

    @Test(arguments: Backend.allCases) func suspensionPersists(_ backend: Backend) throws {
        let storage = try backend.make()
        #expect(try storage.suspendedJobs().isEmpty)
        try storage.setSuspended(jobID: "a", true)
        try storage.setSuspended(jobID: "b", true)
        try storage.setSuspended(jobID: "b", false)
        #expect(try storage.suspendedJobs() == ["a"])
    }

    @Test(arguments: Backend.allCases) func concurrentClaimsHaveOneWinner(_ backend: Backend) async throws {
        let storage = try backend.make()
        // Every claim must answer (won or lost); an error is not a lost race.
        let results = await withTaskGroup(of: Result<Bool, StorageError>.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    do throws(StorageError) {
                        return .success(try storage.claimOccurrence(Occurrence(jobID: "x", due: 42, outcome: .started)))
                    } catch {
                        return .failure(error)
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let wins = results.filter { (try? $0.get()) == true }.count
        let losses = results.filter { (try? $0.get()) == false }.count
        #expect(wins == 1)
        #expect(losses == 7, "every other claim answers 'already claimed' rather than failing: \(results)")
    }
}

/// Where builds' commands run, for crash recovery, on every backend.
@Suite struct BuildProcessConformanceTests {
    @Test(arguments: Backend.allCases) func unfinishedBuildsCarryTheirProcessGroup(_ backend: Backend) throws {
        let storage = try backend.make()
        let done = try storage.finishedBuild("a")
        let running = try storage.createBuild(jobID: "a", config: ["job": ["id": "a"]])
        try storage.startBuild(running)
        try storage.setBuildProcess(running, group: 4242, startTicks: 99)
        try storage.flush()  // handed in without waiting, like command output
        let queued = try storage.createBuild(jobID: "b", config: ["job": ["id": "b"]])
        let unfinished = try storage.unfinishedBuilds()
        #expect(unfinished.map(\.build.id) == [running, queued])
        #expect(unfinished[0].processGroup == 4242 && unfinished[0].processStartTicks == 99)
        #expect(unfinished[1].processGroup == nil && !unfinished[1].build.started)
        #expect(!unfinished.contains { $0.build.id == done })
    }
}
