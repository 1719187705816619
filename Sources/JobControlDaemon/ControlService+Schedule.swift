import Dispatch
import FoundationEssentials
import Glibc
import JobControl
import JobControlProtocol

/// io.jobcontrol.Manager: schedules.
extension ControlService {
    func nextRuns(_ call: VarlinkCall) async throws(VarlinkError) -> VarlinkReply {
        let parameters = Parameters(call)
        let jobID = try parameters.optionalString("job")
        let count = min(max(try parameters.optionalInt("count") ?? 1, 1), 1000)
        let runs: [Scheduler.Upcoming]
        do { runs = try await scheduler.upcoming(jobID: jobID, count: Int(count)) } catch {
            throw Self.varlinkError(error)
        }
        let local = ZoneRules.local()
        var values: [JSONValue] = []
        for run in runs {
            var object: [String: JSONValue] = [
                "job": .string(run.jobID), "schedules": .array(run.schedules.map { .string($0) }),
                "next": .array(run.next.map { .string(ScheduleTime.iso8601($0, zone: local)) }),
                "starts_at": run.startsAt.map { .string(ScheduleTime.iso8601($0, zone: local)) } ?? .null,
                "suspended": .bool(run.suspended), "enabled": .bool(run.enabled), "queued": .int(Int64(run.queued)),
                "concurrency": .string(run.policy.concurrency.rawValue), "persistent": .bool(run.policy.persistent),
                "last": run.last?.json ?? .null,
            ]
            if jobID != nil {
                let recent = (try? storage.occurrences(jobID: run.jobID, outcome: nil, limit: 20)) ?? []
                object["recent"] = .array(recent.map(\.json))
            }
            values.append(.object(object))
        }
        return VarlinkReply(parameters: ["runs": .array(values)])
    }

    func suspend(_ call: VarlinkCall, _ suspending: Bool) async throws(VarlinkError) -> VarlinkReply {
        let jobID = try Parameters(call).string("job")
        guard await engine.config.job(jobID) != nil else { throw Self.varlinkError(.noSuchJob(jobID)) }
        do {
            if suspending { try await scheduler.suspend(jobID) } else { try await scheduler.resume(jobID) }
        } catch {
            throw Self.varlinkError(error)
        }
        // The other daemons sharing the database read suspensions again at once.
        if let cluster = storage as? any ClusterStore {
            do { try cluster.notifyCluster("schedule:\(jobID)") } catch {
                logger.warning(
                    "cannot tell the other daemons of the cluster; they see it at their next heartbeat",
                    metadata: ["error": "\(error)"])
            }
        }
        return VarlinkReply(parameters: [:])
    }

    func calendar(_ call: VarlinkCall) throws(VarlinkError) -> VarlinkReply {
        let parameters = Parameters(call)
        let expression = try parameters.string("expression")
        // As `jobctl calendar` and systemd-analyze: 0 asks for the forms and no elapse.
        let asked = try parameters.optionalInt("iterations") ?? 1
        guard asked >= 0 else {
            throw VarlinkError(
                "org.varlink.service.InvalidParameter", parameters: ["parameter": "iterations"],
                message: "iterations must be 0 or more (at most 1000 elapses are given)")
        }
        let iterations = min(asked, 1000)
        let local = ZoneRules.local()
        let baseTime = try parameters.optionalString("base_time")
        let base: Int64
        do throws(ScheduleError) {
            base =
                try baseTime.map { text throws(ScheduleError) in try ScheduleTime.parse(text, zone: local) }
                ?? ScheduleTime.currentMicroseconds()
        } catch {
            throw VarlinkError(
                "org.varlink.service.InvalidParameter", parameters: ["parameter": "base_time"],
                message: error.description)
        }
        do throws(ScheduleError) {
            let schedule = try Schedule.parse(expression: expression)
            let next = iterations == 0 ? [] : schedule.elapses(after: base, count: Int(iterations))
            return VarlinkReply(parameters: [
                "normalized": .string(schedule.normalized), "kind": .string(schedule.kind),
                "timezone": .string(schedule.zone.name),
                "next": .array(next.map { .string(ScheduleTime.iso8601($0, zone: local)) }),
            ])
        } catch {
            throw VarlinkError(
                "\(Interfaces.manager).InvalidSchedule", parameters: ["expression": .string(expression)],
                message: error.description)
        }
    }

    /// The scheduling fields of a job's wire form.
    func scheduleFields(of job: JobConfig) async -> [String: JSONValue] {
        guard let policy = job.schedule else {
            return ["schedule": .null, "next_run": .null, "suspended": .null, "last_occurrence": .null]
        }
        let upcoming = try? await scheduler.upcoming(jobID: job.id).first
        return [
            "schedule": policy.json,
            "next_run": upcoming?.startsAt.map { .string(ScheduleTime.iso8601($0, zone: .utc)) } ?? .null,
            "suspended": .bool(upcoming?.suspended ?? false),
            "last_occurrence": upcoming?.last?.json ?? .null,
        ]
    }
}
