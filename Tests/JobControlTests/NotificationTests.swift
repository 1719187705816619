import Foundation
import Testing

@testable import JobControl

/// The notification rules (which event goes where, and how often), their configuration, and
/// the outbox on every storage backend.
@Suite struct NotificationPolicyTests {
    static func rule(_ channel: String, _ configure: (inout NotifyRule) -> Void = { _ in }) -> NotifyRule {
        var rule = NotifyRule(channel: channel)
        configure(&rule)
        return rule
    }

    /// Runs builds' outcomes through the policy; returns the events each caused.
    static func run(_ outcomes: [Bool], rules: [NotifyRule], spacing: TimeInterval = 60, startedBy: StartKind = .manual)
        -> [[String]]
    {
        var state = AlertState(since: Date(timeIntervalSince1970: 0))
        var result: [[String]] = []
        for (index, success) in outcomes.enumerated() {
            let trigger = NotificationTrigger(
                jobID: "j", buildID: Int64(index + 1), cause: .build(success: success, startedBy: startedBy),
                rules: rules, facts: [:], now: Date(timeIntervalSince1970: Double(index) * spacing))
            let (after, drafts) = NotificationPolicy.decide(trigger, state: state)
            state = after
            result.append(drafts.map { "\($0.channel):\($0.event.rawValue)" })
        }
        return result
    }

    @Test func failedOnceThenStillFailingAtMostOncePerIntervalThenRecovered() {
        let events = Self.run(
            [false, false, false, false, true, true], rules: [Self.rule("ops") { $0.repeatInterval = 100 }])
        #expect(events == [["ops:failed"], [], ["ops:still_failing"], [], ["ops:recovered"], []])
    }

    @Test func afterFailuresHoldsTheFirstNoticeAndTheRecovery() {
        let rules = [Self.rule("ops") { $0.afterFailures = 3 }]
        #expect(Self.run([false, false, true], rules: rules) == [[], [], []])
        #expect(Self.run([false, false, false, true], rules: rules) == [[], [], ["ops:failed"], ["ops:recovered"]])
    }

    @Test func succeededEveryTimeAndRepeatAlways() {
        let rules = [
            Self.rule("log") { $0.events = [.succeeded] },
            Self.rule("all") {
                $0.events = [.failed, .stillFailing]
                $0.repeatInterval = 0
            },
        ]
        #expect(
            Self.run([true, false, false, false, true], rules: rules, spacing: 1) == [
                ["log:succeeded"], ["all:failed"], ["all:still_failing"], ["all:still_failing"], ["log:succeeded"],
            ])
    }

    @Test func startedByFiltersBuildEventsAndTheirRunOfFailures() {
        let rules = [Self.rule("cron") { $0.startedBy = [.schedule] }]
        #expect(Self.run([false], rules: rules, startedBy: .manual) == [[]])
        #expect(Self.run([false], rules: rules, startedBy: .schedule) == [["cron:failed"]])
        // A manual failure, then a scheduled one: the rule's first notice is `failed`; a manual
        // success does not end the scheduled run it heard of, a scheduled one does.
        var state = AlertState(since: Date(timeIntervalSince1970: 0))
        var events: [String] = []
        for (index, (success, kind)) in [
            (false, StartKind.manual), (false, .schedule), (true, .manual), (true, .schedule),
        ]
        .enumerated() {
            let trigger = NotificationTrigger(
                jobID: "j", buildID: Int64(index), cause: .build(success: success, startedBy: kind), rules: rules,
                facts: [:], now: Date(timeIntervalSince1970: Double(index)))
            let (after, drafts) = NotificationPolicy.decide(trigger, state: state)
            state = after
            events.append(drafts.map(\.event.rawValue).joined(separator: ","))
        }
        #expect(events == ["", "failed", "", "recovered"])
    }

    @Test func silenceOncePerWindowAndAgainAfterAnother() {
        var state = AlertState(since: Date(timeIntervalSince1970: 1000))
        let rules = [Self.rule("ops")]
        func check(at time: Double, lastSuccess: Double?) -> Int {
            let trigger = NotificationTrigger(
                jobID: "j", buildID: nil,
                cause: .silence(lastSuccess: lastSuccess.map(Date.init(timeIntervalSince1970:)), window: 100),
                rules: rules, facts: [:], now: Date(timeIntervalSince1970: time))
            let (after, drafts) = NotificationPolicy.decide(trigger, state: state)
            state = after
            return drafts.count
        }
        #expect(check(at: 1050, lastSuccess: nil) == 0)  // the window since the job was first seen
        #expect(check(at: 1101, lastSuccess: nil) == 1)
        #expect(check(at: 1150, lastSuccess: nil) == 0)
        #expect(check(at: 1202, lastSuccess: nil) == 1)  // another whole window of silence
        #expect(check(at: 1300, lastSuccess: 1250) == 0)  // a success restarts the window
        #expect(check(at: 1351, lastSuccess: 1250) == 1)
    }

    @Test func occurrencesAreRateLimitedPerChannel() {
        var state = AlertState(since: Date(timeIntervalSince1970: 0))
        var counts: [Int] = []
        for minute in 0..<4 {
            let trigger = NotificationTrigger(
                jobID: "j", buildID: nil, cause: .occurrence(.skipped),
                rules: [Self.rule("ops") { $0.repeatInterval = 150 }],
                facts: [:], now: Date(timeIntervalSince1970: Double(minute) * 60))
            let (after, drafts) = NotificationPolicy.decide(trigger, state: state)
            state = after
            counts.append(drafts.count)
            #expect(drafts.allSatisfy { $0.event == .skipped })
        }
        #expect(counts == [1, 0, 0, 1])
    }
}

@Suite struct NotificationConfigTests {
    func errors(_ yaml: String) -> [String] {
        do {
            _ = try ConfigLoader.parse(yaml: yaml, file: "n.yaml")
            Issue.record("expected a configuration error")
            return []
        } catch {
            return error.diagnostics.map(\.description)
        }
    }

    @Test func channelsRulesAndJobKeysLoad() throws {
        let config = try ConfigLoader.parse(
            yaml: """
                secret: {url: "https://hooks.example.com/T/abc", key: k}
                notifications:
                  retention: 7d
                  default: [ops]
                  channels:
                    ops: {webhook: !secret url, secret: !secret key, format: slack, timeout: 5s, attempts: 3}
                    page: {command: [/usr/local/bin/page, --urgent], environment: {TOKEN: !secret key}}
                    mail: {email: "a@example.com, b@example.com", from: jc@example.com}
                    again: {trigger: [b]}
                jobs:
                  - id: a
                    command: 'true'
                    expect_success_within: 26h
                    warn_after: 10m
                    notify:
                      - mail
                      - {channel: again, events: [failed], started_by: [schedule], after_failures: 2, repeat: never}
                  - {id: b, command: 'true'}
                """, file: "n.yaml")
        let settings = config.notifications
        #expect(settings.retention == 7 * 86_400 && settings.channels.count == 4)
        guard case .webhook(let webhook)? = settings.channels["ops"]?.kind else {
            Issue.record("ops is a webhook")
            return
        }
        #expect(webhook.url == .secret("url") && webhook.format == .slack)
        #expect(settings.channels["ops"]?.attempts == 3 && settings.channels["ops"]?.timeout == 5)
        guard case .email(let email)? = settings.channels["mail"]?.kind else {
            Issue.record("mail is email")
            return
        }
        #expect(email.to == ["a@example.com", "b@example.com"])
        let a = try #require(config.job("a"))
        #expect(a.expectSuccessWithin == 26 * 3600 && a.warnAfter == 600)
        #expect(a.notify?.map(\.channel) == ["mail", "again"])
        #expect(a.notify?[1].afterFailures == 2 && a.notify?[1].repeatInterval == .infinity)
        #expect(a.notify?[1].startedBy == [.schedule] && a.notify?[1].events == [.failed])
        #expect(settings.rules(for: try #require(config.job("b"))).map(\.channel) == ["ops"])
    }

    @Test func mistakesAreReportedWhereTheyAre() {
        let found = errors(
            """
            notifications:
              channels:
                hook: {webhook: "ftp://example.com/x", timeout: soon}
                two: {webhook: "https://a.example", email: x@example.com}
                mail: {email: not-an-address}
                who: {trigger: [nobody]}
            jobs:
              - id: a
                command: 'true'
                warn_after: later
                notify: [who, {channel: who, events: [exploded]}]
              - {id: b, command: 'true', notify: [nowhere]}
            """)
        #expect(
            found.contains { $0.hasPrefix("n.yaml:3:21: 'webhook' of channel 'hook': 'ftp://example.com/x' is not") })
        #expect(found.contains { $0.hasPrefix("n.yaml:3:53: 'timeout' of channel 'hook' must be a duration") })
        #expect(found.contains { $0.hasPrefix("n.yaml:4:") && $0.contains("needs exactly one of") })
        #expect(found.contains { $0.hasPrefix("n.yaml:5:19: 'email' of channel 'mail' must be one or more addresses") })
        #expect(found.contains { $0.contains("channel 'who' triggers unknown job 'nobody'") })
        #expect(found.contains { $0.hasPrefix("n.yaml:10:17: 'warn_after' must be a duration") })
        #expect(found.contains { $0.hasPrefix("n.yaml:12:39: job 'b' notifies unknown channel 'nowhere'") })
        #expect(found.contains { $0.hasPrefix("n.yaml:11:42: unknown event 'exploded'") }, "\(found)")
    }

    @Test func triggerCyclesAreRefused() {
        let found = errors(
            """
            notifications:
              channels:
                to-b: {trigger: b}
                to-a: {trigger: a}
            jobs:
              - {id: a, command: 'true', notify: [to-b]}
              - {id: b, command: 'true', notify: [to-a]}
            """)
        #expect(found.contains { $0.contains("notification trigger cycle: a -> b -> a") }, "\(found)")
    }

    @Test func secretsOfChannelsMustExist() {
        let found = errors(
            "notifications:\n  channels:\n    h: {webhook: !secret nope}\njobs:\n  - {id: a, command: 'true'}\n")
        #expect(found.contains { $0.contains("channel 'h' uses '!secret nope' but no secret 'nope' is defined") })
    }
}

/// Mail stays within what mail transfer agents accept: body lines of at most 998 octets with no
/// bare CR, and encoded header words of at most 75 characters, folded.
@Suite struct MailFormatTests {
    @Test func longAndMultilineTextIsWrappedAndFolded() {
        let exception = "Exception: " + String(repeating: "\u{1F4A5}", count: 600) + "\rafter a CR\r\nand CRLF"
        let lines = NotificationMessage.bodyLines(exception)
        #expect(lines.allSatisfy { $0.utf8.count <= 998 && !$0.contains("\r") })
        #expect(lines.joined() == exception.replacing("\r\n", with: "").replacing("\r", with: ""))
        #expect(lines.last == "and CRLF")
        let subject =
            "Subject: " + NotificationMessage.headerText("[jobcontrol] " + String(repeating: "é\u{1F4A5}", count: 150))
        let headerLines = subject.split(separator: "\n")
        #expect(headerLines.count > 1 && headerLines.dropFirst().allSatisfy { $0.hasPrefix(" ") })
        for line in headerLines {
            #expect(line.utf8.count <= 78, "\(line)")
            for word in line.split(separator: " ") where word.hasPrefix("=?") { #expect(word.count <= 75) }
        }
        #expect(NotificationMessage.headerText("plain ASCII") == "plain ASCII")
    }
}

extension MailFormatTests {
    /// A log line's own newlines (or CRs, which end a mail line too) go on indented: a job
    /// cannot put a line into the mail that passes for another log line.
    @Test func aLogLinesOwnLinesCannotPassForLogLines() {
        let record = NotificationRecord(
            id: 1, channel: "ops", event: .failed, jobID: "j", buildID: 7, state: .pending, attempts: 0,
            created: Date(timeIntervalSince1970: 0), nextAttempt: nil, delivered: nil, node: nil, payload: [:],
            lastError: nil)
        let forged = LogRecord(
            buildID: 7, created: Date(timeIntervalSince1970: 60), level: 20,
            message: "ok\n  1970-01-01T00:00:00Z ERROR forged\r  1970-01-01T00:00:00Z ERROR by a CR", logger: "x")
        let message = NotificationMessage(record: record, logTail: [forged], attempt: 1, sent: Date())
        let lines = message.email(NotificationChannel.Email(to: ["ops@example.com"])).split(separator: "\n")
        #expect(lines.contains { $0.hasSuffix(" INFO ok") })
        #expect(!lines.contains { $0.hasPrefix("  1970-01-01T00:00:00Z ERROR") }, "\(lines)")
        #expect(lines.contains("        1970-01-01T00:00:00Z ERROR forged"))
    }
}

@Suite struct OutboxConformanceTests {
    static func trigger(_ success: Bool, build: Int64, at time: Double) -> NotificationTrigger {
        NotificationTrigger(
            jobID: "j", buildID: build, cause: .build(success: success, startedBy: .manual),
            rules: [NotifyRule(channel: "ops")], facts: ["job": "j"], now: Date(timeIntervalSince1970: time))
    }

    @Test(arguments: Backend.allCases) func aBuildsEndWritesItsNotificationsInTheSameTransaction(_ backend: Backend)
        async throws
    {
        let storage = try backend.make()
        for (index, success) in [false, false, true].enumerated() {
            let id = try storage.createBuild(jobID: "j", jobConfig: ["id": "j"], buildConfig: [:])
            try storage.startBuild(id)
            try await storage.finishBuildAsync(
                id, at: Date(), success: success, skipped: false, retval: nil, exception: nil,
                exceptionTraceback: nil, notify: Self.trigger(success, build: id, at: Double(index)))
        }
        let records = try storage.listNotifications(jobID: "j", state: nil, limit: 10)
        #expect(records.map(\.event) == [.recovered, .failed])
        #expect(records.allSatisfy { $0.state == .pending && $0.attempts == 0 && $0.channel == "ops" })
        // A build end that fails writes no notification either.
        await #expect(throws: StorageError.self) {
            try await storage.finishBuildAsync(
                999, at: Date(), success: false, skipped: false, retval: nil, exception: nil, exceptionTraceback: nil,
                notify: Self.trigger(false, build: 999, at: 10))
        }
        #expect(try storage.listNotifications(jobID: nil, state: nil, limit: 10).count == 2)
    }

    @Test(arguments: Backend.allCases) func claimAttemptRetryDeliverReleaseAndPrune(_ backend: Backend) throws {
        let storage = try backend.make()
        let now = Date(timeIntervalSince1970: 1_000_000)
        let first = try storage.addNotification(
            NotificationDraft(channel: "ops", event: .test, jobID: nil, buildID: nil, payload: ["a": 1]), now: now)
        let second = try storage.addNotification(
            NotificationDraft(channel: "ops", event: .failed, jobID: "j", buildID: 7, payload: [:]), now: now)
        // One claim each: a second claimer gets nothing while the claims last.
        let claimed = try storage.claimNotifications(node: "n1", now: now, lease: 60, limit: 10)
        #expect(
            claimed.map(\.id) == [first, second] && claimed.allSatisfy { $0.attempts == 1 && $0.state == .sending })
        #expect(try storage.claimNotifications(node: "n2", now: now, lease: 60, limit: 10).isEmpty)
        #expect(try storage.nextNotificationDue() == now.addingTimeInterval(60))
        // The first fails and is retried later; the second is delivered.
        #expect(
            try storage.finishNotificationAttempt(
                id: first, number: 1, node: "n1", delivered: false, detail: "HTTP 500",
                retryAt: now.addingTimeInterval(10),
                now: now))
        #expect(
            try storage.finishNotificationAttempt(
                id: second, number: 1, node: "n1", delivered: true, detail: "HTTP 200", retryAt: nil, now: now))
        #expect(
            try storage.claimNotifications(node: "n1", now: now.addingTimeInterval(5), lease: 60, limit: 10).isEmpty)
        // The retry's claim dies with its daemon: another takes it over when the claim expires.
        let retry = try storage.claimNotifications(node: "n1", now: now.addingTimeInterval(10), lease: 60, limit: 10)
        #expect(retry.map(\.id) == [first] && retry.first?.attempts == 2)
        let takeover = try storage.claimNotifications(node: "n2", now: now.addingTimeInterval(71), lease: 60, limit: 10)
        #expect(takeover.map(\.id) == [first] && takeover.first?.attempts == 3)
        // The first claimer's late answer is recorded, but the claim is no longer its own.
        #expect(
            try !storage.finishNotificationAttempt(
                id: first, number: 2, node: "n1", delivered: true, detail: "late", retryAt: nil,
                now: now.addingTimeInterval(72)))
        // ... and the notification is delivered: a recorded success is never sent again. n2 dies
        // and restarts: its attempt is recorded as interrupted, and nothing is released.
        #expect(try storage.releaseNotifications(node: "n2", now: now.addingTimeInterval(80)) == 0)
        let (record, attempts) = try #require(try storage.notification(first))
        #expect(record.state == .delivered && record.lastError == nil)
        #expect(attempts.map(\.outcome) == [.failed, .delivered, .interrupted], "\(attempts)")
        #expect(attempts.map(\.node) == ["n1", "n1", "n2"])
        // Re-send, retention.
        #expect(try storage.resendNotification(second, now: now.addingTimeInterval(90)))
        #expect(try storage.notification(second)?.0.state == .pending)
        let reclaimed = try storage.claimNotifications(
            node: "n1", now: now.addingTimeInterval(90), lease: 60, limit: 10)
        for notification in reclaimed {
            try storage.finishNotificationAttempt(
                id: notification.id, number: notification.attempts, node: "n1", delivered: true, detail: nil,
                retryAt: nil, now: now.addingTimeInterval(91))
        }
        #expect(try storage.listNotifications(jobID: nil, state: .delivered, limit: 10).count == 2)
        #expect(try storage.pruneNotifications(before: now.addingTimeInterval(1)) == 2)
        #expect(try storage.listNotifications(jobID: nil, state: nil, limit: 10).isEmpty)
    }
}

/// The deliverer's wake-up: a signal is never lost, a wait ends at its timeout, and a
/// cancelled wait returns.
@Suite struct WakeSignalTests {
    /// Waits that must end early have a timeout of an hour: ending at all (within the suite's
    /// time limit) is the proof, with no bound on how late a loaded machine resumes them.
    @Test(.timeLimit(.minutes(5)))
    func signalsTimeoutsAndCancellation() async throws {
        let wake = WakeSignal()
        let clock = ContinuousClock()
        wake.signal()  // nobody waits: kept for the next wait
        await wake.wait(upTo: .seconds(3600))
        let took = await clock.measure { await wake.wait(upTo: .milliseconds(50)) }
        #expect(took >= .milliseconds(50))
        let waiting = Task { await wake.wait(upTo: .seconds(3600)) }
        try await Task.sleep(for: .milliseconds(50))
        wake.signal()
        await waiting.value
        let cancelled = Task { await wake.wait(upTo: .seconds(3600)) }
        try await Task.sleep(for: .milliseconds(50))
        cancelled.cancel()
        await cancelled.value
        // Many short waits leave no timers behind that would end a later wait early.
        for _ in 0..<100 { await wake.wait(upTo: .milliseconds(1)) }
        let later = await clock.measure { await wake.wait(upTo: .milliseconds(200)) }
        #expect(later >= .milliseconds(200))
    }
}
