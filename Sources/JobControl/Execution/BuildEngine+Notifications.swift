import Dispatch
import FoundationEssentials
import Glibc

/// What builds tell the notification rules: the facts of a build's end (written with it, in
/// the same transaction), `warn_after`, and the environment of a build a trigger channel ran.
extension BuildEngine {
    nonisolated func buildFacts(
        build: Build, job: JobConfig, started: Date?, ended: Date?, success: Bool?, exception: BuildException?
    ) -> [String: JSONValue] {
        var facts: [String: JSONValue] = [
            "job": .string(job.id), "build": .int(build.id), "node": .string(nodeName),
            "started_by": .string(StartKind.of(buildConfig: build.config).rawValue),
        ]
        if let success {
            facts["state"] = .string(success ? "successful" : "failed")
        } else {
            facts["state"] = "running"
        }
        if let title = job.title { facts["job_title"] = .string(title) }
        if let started { facts["start_time"] = Timestamps.json(started) }
        if let ended {
            facts["end_time"] = Timestamps.json(ended)
            if let started { facts["duration_seconds"] = .double(ended.timeIntervalSince(started)) }
        }
        if let exception {
            facts["exception"] = [
                "type": .string(exception.type), "message": .string(String(exception.message.prefix(2000))),
            ]
        }
        if let occurrence = build.config["build"]?["trigger"]?["occurrence"] { facts["occurrence"] = occurrence }
        return facts
    }

    /// What a build failed outside its run tells the job's rules under `config` (crash
    /// recovery's `DaemonRestarted`, the cluster's `DaemonLost`, decided inside the recovery's
    /// transaction); nil when nobody listens.
    nonisolated func failureTrigger(for build: Build, exception: BuildException, config: DaemonConfig)
        -> NotificationTrigger?
    {
        guard let job = config.job(build.jobID) else { return nil }
        let rules = config.notifications.rules(for: job)
        guard !rules.isEmpty else { return nil }
        let now = Date()
        return NotificationTrigger(
            jobID: job.id, buildID: build.id,
            cause: .build(success: false, startedBy: StartKind.of(buildConfig: build.config)), rules: rules,
            facts: buildFacts(
                build: build, job: job, started: build.startTime, ended: now, success: false, exception: exception),
            now: now)
    }

    /// After the job's `warn_after`, a `long_running` notification for the build, unless the
    /// returned task is cancelled first (the build ended) or the build's command has handed back
    /// `worker` (the build's recorded end) by then.
    nonisolated func warnWhenLong(
        build: Build, job: JobConfig, rules: [NotifyRule], started: Date?, worker: WorkerSlot?
    ) -> Task<Void, Never>? {
        guard let after = job.warnAfter, rules.contains(where: { $0.events.contains(.longRunning) }) else { return nil }
        return Task {
            try? await Task.sleep(for: .milliseconds(Int64(after * 1000)))
            // Not when the build has ended already: its command handed the worker back, and that
            // moment is its recorded end.
            guard !Task.isCancelled, worker?.releaseTime == nil else { return }
            var facts = buildFacts(
                build: build, job: job, started: started, ended: nil, success: nil, exception: nil)
            facts["warn_after"] = .double(after)
            let trigger = NotificationTrigger(
                jobID: job.id, buildID: build.id,
                cause: .longRunning(startedBy: StartKind.of(buildConfig: build.config)), rules: rules, facts: facts)
            do {
                if try !storage.recordNotifications(trigger).isEmpty { notificationWake.signal() }
            } catch {
                logger.warning(
                    "cannot record a long_running notification",
                    metadata: ["job.id": "\(job.id)", "build.id": "\(build.id)", "error": "\(error)"])
            }
        }
    }

    /// `JOBCONTROL_TRIGGER_*`: what made a trigger channel run this build.
    static func triggerEnvironment(_ trigger: JSONValue) -> [String: String] {
        var variables: [String: String] = [:]
        if let event = trigger["event"]?.stringValue { variables["JOBCONTROL_TRIGGER_EVENT"] = event }
        if let job = trigger["job"]?.stringValue { variables["JOBCONTROL_TRIGGER_JOB_ID"] = job }
        if let build = trigger["build"]?.intValue { variables["JOBCONTROL_TRIGGER_BUILD_ID"] = String(build) }
        if let state = trigger["state"]?.stringValue { variables["JOBCONTROL_TRIGGER_BUILD_STATE"] = state }
        if let notification = trigger["notification"]?.intValue {
            variables["JOBCONTROL_TRIGGER_NOTIFICATION_ID"] = String(notification)
        }
        return variables
    }
}
