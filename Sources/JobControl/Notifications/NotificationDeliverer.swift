import Dispatch
import FoundationEssentials
import Glibc
import Logging

/// Delivers the outbox: claims due notifications (in a cluster, each by one daemon), sends each
/// through its channel, records every attempt, and schedules retries with capped exponential
/// backoff. A daemon that dies mid-attempt leaves a claim that it releases at its next start (or
/// that another daemon takes over when the claim expires); the attempt is then recorded as
/// interrupted and the notification sent again under the same id.
///
/// Also the dead man's switch: jobs with `expect_success_within` are checked for silence.
///
/// Ownership: this actor owns the count of deliveries in flight; the configuration is the
/// engine's, read at each round, so a reload applies to the next attempt.
public actor NotificationDeliverer {
    let storage: any Storage
    let engine: BuildEngine
    /// This daemon's name in attempts and claims (`cluster.node`, or "local").
    public nonisolated let node: String
    let logger: Logger
    private var inFlight = 0
    /// How often a cluster member looks for notifications other daemons wrote (it is woken at
    /// once for its own).
    let clusterPoll: Duration

    public init(storage: any Storage, engine: BuildEngine, node: String, clustered: Bool, logger: Logger) {
        self.storage = storage
        self.engine = engine
        self.node = node
        self.logger = logger
        self.clusterPoll = clustered ? .seconds(2) : .seconds(3600)
    }

    /// Runs until cancelled.
    public func run() async {
        do {
            let released = try storage.releaseNotifications(node: node, now: Date())
            if released > 0 {
                logger.notice(
                    "notifications whose delivery was interrupted by the previous stop are sent again",
                    metadata: ["notifications": "\(released)"])
            }
        } catch {
            logger.error("cannot release interrupted notifications", metadata: ["error": "\(error)"])
        }
        let silence = Task { await self.watchSilence() }
        defer { silence.cancel() }
        var failures = 0
        while !Task.isCancelled {
            let config = await engine.config
            let settings = config.notifications
            let room = settings.concurrency - inFlight
            var claimed: [NotificationRecord] = []
            if room > 0 {
                let lease = (settings.channels.values.map(\.timeout).max() ?? 10) + 30
                do {
                    claimed = try storage.claimNotifications(node: node, now: Date(), lease: lease, limit: room)
                    failures = 0
                } catch {
                    failures += 1
                    if failures == 1 {
                        logger.warning("cannot claim notifications; trying again", metadata: ["error": "\(error)"])
                    }
                    // 1 s, doubling to 30 s, while the storage refuses.
                    await engine.notificationWake.wait(upTo: .seconds(min(30, 1 << min(failures - 1, 5))))
                    continue
                }
            }
            for record in claimed {
                inFlight += 1
                Task {
                    await self.deliver(record, config: config)
                    self.delivered()
                }
            }
            if claimed.count == room && room > 0 { continue }  // more may be due
            var wait = clusterPoll
            // With every slot busy, a delivery's end wakes the loop; a due time would only spin.
            if inFlight < settings.concurrency, let due = try? storage.nextNotificationDue() {
                let seconds = max(0.01, due.timeIntervalSinceNow)
                wait = min(wait, .milliseconds(Int64(min(seconds, 3600) * 1000)))
            }
            await engine.notificationWake.wait(upTo: wait)
        }
    }

    /// At a graceful stop (after ``run()`` was cancelled): waits up to `limit` for the attempts
    /// under way to end and be recorded, so that a restart does not send them again.
    public func finishInFlight(within limit: Duration) async {
        let deadline = ContinuousClock.now + limit
        while inFlight > 0, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
    }

    private func delivered() {
        inFlight -= 1
        engine.notificationWake.signal()
    }

    /// One attempt, recorded.
    nonisolated func deliver(_ record: NotificationRecord, config: DaemonConfig) async {
        let channel = config.notifications.channels[record.channel]
        // Secrets, and whatever the channel sends that could be a credential (its URL, key and
        // header values, even written as plain strings), never reach the attempt's record.
        let redactor = SecretRedactor(config.secrets.values + (channel.map { Self.credentials($0, config) } ?? []))
        let result: Result<String, AttemptFailure>
        if let channel {
            result = await attempt(record, channel: channel, config: config)
        } else {
            result = .failure(
                AttemptFailure(
                    "channel '\(record.channel)' is no longer configured; it was removed by a reload", retry: false))
        }
        let now = Date()
        var retryAt: Date?
        var detail: String
        switch result {
        case .success(let text):
            detail = text
        case .failure(let failure):
            detail = failure.message
            if let channel, failure.retry, record.attempts < channel.attempts {
                retryAt = now.addingTimeInterval(channel.delay(afterAttempt: record.attempts))
            }
        }
        // The receiver's answer is someone else's text: no line breaks or escapes into the log.
        detail = String(redactor.redact(detail).prefix(2000)).escapingControls
        let metadata: Logger.Metadata = [
            "notification.id": "\(record.id)", "channel": "\(record.channel)", "event": "\(record.event.rawValue)",
            "job.id": "\(record.jobID ?? "-")", "attempt": "\(record.attempts)", "detail": "\(detail)",
        ]
        DaemonMetrics.shared.delivery(channel: record.channel, result: result.isSuccess ? "delivered" : "failed")
        switch (result, retryAt) {
        case (.success, _): logger.info("notification delivered", metadata: metadata)
        case (.failure, .some):
            logger.warning("notification attempt failed; it will be tried again", metadata: metadata)
        case (.failure, nil):
            logger.error("notification could not be delivered; giving up", metadata: metadata)
            // Besides the failed attempt: the notification itself is lost, which an alert wants.
            DaemonMetrics.shared.delivery(channel: record.channel, result: "given_up")
        }
        // The outcome is recorded even while the storage fails: a delivered notification recorded
        // as still sending would be sent again after the claim expires.
        var backoff: Duration = .milliseconds(100)
        let first = ContinuousClock.now
        while true {
            do {
                let kept = try storage.finishNotificationAttempt(
                    id: record.id, number: record.attempts, node: node, delivered: result.isSuccess, detail: detail,
                    retryAt: retryAt, now: now)
                if !kept {
                    logger.warning(
                        "a notification's claim expired during its attempt; another daemon took it over",
                        metadata: metadata)
                }
                return
            } catch  where error.isTransient && ContinuousClock.now - first < .seconds(600) {
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            } catch {
                logger.error(
                    "cannot record a notification attempt", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                return
            }
        }
    }

    /// The values a channel sends that may be credentials.
    static func credentials(_ channel: NotificationChannel, _ config: DaemonConfig) -> [String] {
        guard case .webhook(let webhook) = channel.kind else { return [] }
        let values = [webhook.url] + (webhook.secret.map { [$0] } ?? []) + Array(webhook.headers.values)
        return values.map { resolved($0, config) }
    }

    /// A channel's setting as sent: a `!secret` replaced by its value.
    static func resolved(_ value: ConfigValue, _ config: DaemonConfig) -> String {
        value.resolve(retval: { _ in .null }, secret: { .string(config.secrets[$0] ?? "") }, param: { _ in .null })
            .argumentText
    }

    struct AttemptFailure: Error {
        var message: String
        /// False when trying again cannot help (no such channel, a bad configuration).
        var retry = true

        init(_ message: String, retry: Bool = true) {
            self.message = message
            self.retry = retry
        }
    }

    /// Sends `record` through `channel` once; the success's text is the attempt's detail.
    nonisolated func attempt(_ record: NotificationRecord, channel: NotificationChannel, config: DaemonConfig) async
        -> Result<String, AttemptFailure>
    {
        let tail = record.buildID.flatMap { build in
            try? storage.iterLogMessages(
                LogQuery(buildID: build, limit: NotificationMessage.logTailLines, newestFirst: true)
            ).reversed()
        }
        let message = NotificationMessage(
            record: record, logTail: tail.map(Array.init) ?? [], attempt: record.attempts, sent: Date())
        func secret(_ value: ConfigValue) -> String { Self.resolved(value, config) }
        switch channel.kind {
        case .webhook(let webhook):
            let body = message.webhookBody(webhook.format)
            var headers = webhook.headers.mapValues(secret)
            if let bad = headers.first(where: { $0.value.contains(where: { $0 == "\n" || $0 == "\r" }) })?.key {
                return .failure(
                    AttemptFailure(
                        "header \(bad) of channel '\(channel.name)' holds a line break (check its secret); not sent",
                        retry: false))
            }
            headers["Content-Type"] = "application/json"
            headers["User-Agent"] = "jobcontrold/\(JobControlVersion.current)"
            headers["X-JobControl-Event"] = record.event.rawValue
            headers["X-JobControl-Delivery"] = String(record.id)
            headers["X-JobControl-Attempt"] = String(record.attempts)
            do throws(WebhookSender.Failure) {
                if let key = webhook.secret.map(secret) {
                    headers["X-JobControl-Signature-256"] = try WebhookSender.signature(
                        key: key, body: Array(body.utf8))
                }
                let response = try await WebhookSender.post(
                    url: secret(webhook.url), headers: headers, body: body, timeout: channel.timeout,
                    caFile: webhook.caFile)
                let said = response.body.trimmingBlanks(newlines: true)
                let text = "HTTP \(response.status)" + (said.isEmpty ? "" : ": \(said)")
                guard (200..<300).contains(response.status) else {
                    // A client error other than a timeout or rate limit will not pass by itself,
                    // but the receiver may be fixed: it is retried like the others.
                    return .failure(AttemptFailure(text))
                }
                return .success(text)
            } catch {
                return .failure(AttemptFailure(error.description))
            }
        case .command(let argv, let environment):
            var variables = ProcessSpawner.inherited.merging(message.environment) { $1 }
            variables.merge(environment.mapValues(secret)) { $1 }
            return await runProgram(
                argv, environment: variables, input: Array(message.body.jsonText().utf8), channel, id: record.id)
        case .email(let email):
            let path = ProcessSpawner.inherited["PATH"] ?? "/usr/bin:/bin"
            let program =
                email.sendmail
                ?? (ProcessSpawner.resolve("sendmail", path: path + ":/usr/sbin:/usr/lib") ?? "/usr/sbin/sendmail")
            return await runProgram(
                [program, "-t", "-i"], environment: ProcessSpawner.inherited, input: Array(message.email(email).utf8),
                channel, id: record.id)
        case .trigger(let jobs):
            var created: [String] = []
            var trigger: [String: JSONValue] = [
                "kind": "notification", "notification": .int(record.id), "event": .string(record.event.rawValue),
            ]
            if let job = record.jobID { trigger["job"] = .string(job) }
            if let build = record.buildID { trigger["build"] = .int(build) }
            if let state = record.payload["state"] { trigger["state"] = state }
            // All or none, in one transaction: a retry does not run again what an earlier attempt ran.
            do {
                let builds = try await engine.runMany(jobIDs: jobs, force: true, trigger: .object(trigger))
                created = builds.map { "\($0.jobID): build \($0.id)" }
            } catch {
                return .failure(AttemptFailure("cannot run \(jobs.joined(separator: ", ")): \(error)"))
            }
            return .success("created " + created.joined(separator: ", "))
        }
    }

    private nonisolated func runProgram(
        _ argv: [String], environment: [String: String], input: [UInt8], _ channel: NotificationChannel, id: Int64
    ) async -> Result<String, AttemptFailure> {
        do throws(ProcessSpawner.Failure) {
            let outcome = try await ChannelCommand.run(
                argv: argv, environment: environment, input: input, timeout: channel.timeout, name: "notify-\(id)",
                cgroups: engine.cgroups)
            if outcome.status == nil && outcome.signal == nil {
                return .failure(
                    AttemptFailure(
                        "timed out after \(DurationFormatter.text(channel.timeout)); killed"
                            + outcome.summary.dropFirst(9)))
            }
            return outcome.succeeded ? .success(outcome.summary) : .failure(AttemptFailure(outcome.summary))
        } catch {
            return .failure(AttemptFailure("cannot start \(argv[0]): \(error.reason)"))
        }
    }

    // MARK: - Silence

    /// Checks every job with `expect_success_within`, at a tenth of the shortest window (at
    /// least every 5 s, at most every minute). The rules' memory keeps it to one notification
    /// per silent window, also across daemons of a cluster.
    func watchSilence() async {
        while !Task.isCancelled {
            let config = await engine.config
            let watched = config.jobs.filter { $0.expectSuccessWithin != nil && $0.enabled }
            for job in watched {
                guard let window = job.expectSuccessWithin else { continue }
                let rules = config.notifications.rules(for: job).filter { $0.events.contains(.silence) }
                guard !rules.isEmpty else { continue }
                let now = Date()
                let last: Date?
                do { last = try storage.getLatestSuccessfulBuild(jobID: job.id)?.endTime } catch { continue }
                if let last, now.timeIntervalSince(last) < window { continue }
                var facts: [String: JSONValue] = [
                    "job": .string(job.id), "expect_success_within": .double(window), "node": .string(node),
                ]
                if let title = job.title { facts["job_title"] = .string(title) }
                if let last { facts["last_success"] = Timestamps.json(last) }
                let trigger = NotificationTrigger(
                    jobID: job.id, buildID: nil, cause: .silence(lastSuccess: last, window: window), rules: rules,
                    facts: facts, now: now)
                do {
                    if try !storage.recordNotifications(trigger).isEmpty { engine.notificationWake.signal() }
                } catch {
                    logger.warning(
                        "cannot check a job for silence", metadata: ["job.id": "\(job.id)", "error": "\(error)"])
                }
            }
            let shortest = watched.compactMap(\.expectSuccessWithin).min() ?? 60
            try? await Task.sleep(for: .milliseconds(Int64(min(60, max(5, shortest / 10)) * 1000)))
        }
    }
}

extension Result {
    var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
}
