import Foundation
import JobControl
import Testing

/// Notifications end to end, with real receivers the test starts: a webhook server that checks
/// each signature with Python's `hmac` (an independent implementation) and fails or hangs on
/// demand, a `sendmail` stand-in on PATH, command channels that record what they get.
@Suite struct NotificationTests {
    /// The webhook receiver (Scripts/webhook_receiver.py), stopped when released.
    final class WebhookReceiver {
        let process = Process()
        let directory: TemporaryDirectory
        let port: Int
        var log: String { directory.file("hook.log") }
        var control: String { directory.file("control") }

        /// `tls`: certificate and key files (PEM) to serve HTTPS with.
        init(secret: String = "", failFirst: Int = 2, tls: (cert: String, key: String)? = nil) async throws {
            directory = try TemporaryDirectory()
            try directory.write("control", "ok")
            _ = FileManager.default.createFile(atPath: directory.file("hook.log"), contents: nil)
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("Scripts/webhook_receiver.py").path
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments =
                [
                    "python3", script, "--port-file", directory.file("port"), "--log", directory.file("hook.log"),
                    "--secret", secret, "--fail-first", String(failFirst), "--control", directory.file("control"),
                ] + (tls.map { ["--tls-cert", $0.cert, "--tls-key", $0.key] } ?? [])
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            let portFile = directory.file("port")
            try await waitFor("the webhook receiver") { FileManager.default.fileExists(atPath: portFile) }
            port = Int(try String(contentsOfFile: portFile, encoding: .utf8)) ?? 0
        }

        var scheme = "http"

        func url(_ path: String) -> String { "\(scheme)://127.0.0.1:\(port)\(path)" }

        /// Every line of the receiver's log.
        var entries: [JSONValue] {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                try? JSONValue.parse(String($0))
            }
        }

        func answered(_ delivery: Int64, status: Int64 = 200) -> [JSONValue] {
            entries.filter {
                $0["kind"] == "answered" && $0["delivery"]?.stringValue == String(delivery)
                    && $0["status"]?.intValue == status
            }
        }

        func setHanging(_ hanging: Bool) throws {
            try directory.write("control", hanging ? "hang" : "ok")
        }

        /// SIGKILL: the test runner's threads block signals, and a child started from one of them
        /// inherits the mask (SIGTERM would wait forever).
        deinit {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                _ = exitStatus(of: process)
            }
        }
    }

    /// A directory with a `sendmail` that records its arguments and message. Returned once it
    /// has run (a probe, into a directory of its own): a script just written can be held open
    /// for writing by a child another test is forking, and until that child's exec closes it,
    /// running the script fails with ETXTBSY (the daemon's first mail would fail).
    static func sendmailStandIn(_ directory: TemporaryDirectory) async throws -> String {
        let bin = directory.file("bin"), probe = directory.file("probe")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)
        try directory.write(
            "bin/sendmail", "#!/bin/sh\nn=$$\necho \"$@\" > \"$OUT/mail-$n.args\"\ncat > \"$OUT/mail-$n.txt\"\n")
        chmod(bin + "/sendmail", 0o755)
        try await waitFor("the sendmail stand-in to run") {
            (try? await runProcess(bin + "/sendmail", ["probe"], environment: ["OUT": probe])) != nil
        }
        return bin
    }

    static func notifications(_ daemon: DaemonProcess, _ arguments: String...) async throws -> [NotificationRecord] {
        let result = try await runProcess(
            Binaries.jobctl, ["--socket", daemon.socket, "--json", "notify", "list", "--limit", "1000"] + arguments)
        guard case .array(let values) = try JSONValue.parse(result.stdout) else { return [] }
        return values.compactMap(NotificationRecord.init(json:))
    }

    static func attempts(_ daemon: DaemonProcess, _ id: Int64) async throws -> [NotificationAttempt] {
        let result = try await daemon.jobctl("--json", "notify", "show", String(id))
        guard case .array(let values)? = try JSONValue.parse(result.stdout)["attempts"] else { return [] }
        return values.compactMap { NotificationAttempt(json: $0, notificationID: id) }
    }

    static func settled(_ records: [NotificationRecord]) -> Bool {
        !records.isEmpty && records.allSatisfy { $0.state == .delivered || $0.state == .failed }
    }

    /// A failing build, a repeat, a recovery: through a signed webhook that fails twice first,
    /// one that never answers, a command, and email. `jobctl notify` shows, re-sends and tests.
    @Test(.timeLimit(.minutes(2)))
    func failureRecoveryAndEveryChannel() async throws {
        let receiver = try await WebhookReceiver(secret: "k3y-\u{e9}t\u{e9}")
        let side = try TemporaryDirectory()
        let out = side.path
        let bin = try await Self.sendmailStandIn(side)
        let config = """
            secret: {hook_key: "k3y-\u{e9}t\u{e9}"}
            http: {listen: "127.0.0.1:0", tokens: [{token: "\(MetricsTests.token)", level: read}]}
            notifications:
              channels:
                hook: {webhook: "\(receiver.url("/flaky"))", secret: !secret hook_key, backoff: 1s, timeout: 5s}
                slow: {webhook: "\(receiver.url("/never"))", timeout: 1s, attempts: 2, backoff: 1s}
                script:
                  command: 'cat > "$OUT/cmd-$JOBCONTROL_NOTIFICATION_ID.json"; env | grep JOBCONTROL_ | sort > "$OUT/cmd-$JOBCONTROL_NOTIFICATION_ID.env"'
                mail: {email: ops@example.com, from: jobcontrol@example.com}
                leaves: {command: 'sleep 300 & echo $! > "$OUT/leftover.pid"'}
            jobs:
              - id: flaky
                command: 'echo "trying hard"; test -e "$OUT/flag"'
                notify:
                  - hook
                  - {channel: script, events: [failed, still_failing, recovered], repeat: always}
                  - {channel: mail, events: [failed]}
                  - {channel: slow, events: [failed]}
                  - {channel: leaves, events: [failed]}
            """
        let daemon = try await DaemonProcess(
            config: config,
            environment: [
                "OUT": out, "PATH": bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
            ])
        #expect(try await daemon.jobctl("run", "flaky", "--wait").status == 1)
        #expect(try await daemon.jobctl("run", "flaky", "--wait").status == 1)
        _ = FileManager.default.createFile(atPath: out + "/flag", contents: nil)
        #expect(try await daemon.jobctl("run", "flaky", "--wait").status == 0)

        try await waitFor("every notification to settle", timeout: .seconds(60)) {
            let records = (try? await Self.notifications(daemon)) ?? []
            return records.count == 8 && Self.settled(records)
        }
        let records = try await Self.notifications(daemon)
        func one(_ channel: String, _ event: NotificationEvent) throws -> NotificationRecord {
            try #require(records.first { $0.channel == channel && $0.event == event }, "\(channel) \(event)")
        }
        // The hook: failed (build 1) and recovered (build 3); the repeat within the hour is suppressed.
        let failed = try one("hook", .failed)
        #expect(failed.buildID == 1 && failed.state == .delivered && failed.attempts == 3)
        let recovered = try one("hook", .recovered)
        #expect(recovered.buildID == 3 && recovered.state == .delivered)
        #expect(!records.contains { $0.channel == "hook" && $0.event == .stillFailing })
        // Two 500s, then a 200: three attempts recorded, each signature right (checked by Python).
        let attempts = try await Self.attempts(daemon, failed.id)
        #expect(attempts.map(\.outcome) == [.failed, .failed, .delivered], "\(attempts)")
        #expect(attempts.first?.detail?.contains("HTTP 500") == true)
        // The receiver's answer is kept without its control characters (no forged log lines).
        #expect(attempts.first?.detail?.contains("\\u{1b}[31mforged line") == true, "\(attempts)")
        #expect(!daemon.log.contains("\u{1b}[31m"))
        let received = receiver.entries.filter { $0["kind"] == "received" && $0["path"] == "/flaky" }
        #expect(received.count == 6 && received.allSatisfy { $0["signature_ok"] == true }, "\(received)")
        let body = try #require(received.first { $0["delivery"]?.stringValue == String(failed.id) }?["body"])
        #expect(body["event"] == "failed" && body["job"] == "flaky" && body["build"]?.intValue == 1)
        #expect(body["state"] == "failed" && body["exception"]?["type"] == "CommandFailed", "\(body)")
        #expect(body["summary"]?.stringValue?.contains("flaky: build 1 failed") == true)
        #expect(
            body["log_tail"].map { "\($0)" }?.contains("trying hard") == true, "the last log lines go with it: \(body)")
        // The receiver that never answers: two attempts, each cut at the timeout; given up.
        let slow = try one("slow", .failed)
        #expect(slow.state == .failed && slow.attempts == 2)
        let slowAttempts = try await Self.attempts(daemon, slow.id)
        #expect(slowAttempts.allSatisfy { $0.outcome == .failed && $0.detail?.contains("timed out") == true })
        // The metrics say one notification was given up on, beside its two failed attempts.
        let port = try await MetricsTests.port(of: daemon)
        let scrape = try await runProcess(
            "/usr/bin/curl",
            ["-sf", "-H", "Authorization: Bearer \(MetricsTests.token)", "http://127.0.0.1:\(port)/metrics"])
        #expect(
            scrape.stdout.contains(#"jobcontrol_notification_deliveries_total{channel="slow",result="given_up"} 1"#),
            "\(scrape.stdout)")
        // The command: the event as JSON on stdin and in its environment, each failure (repeat: always).
        for event in [NotificationEvent.failed, .stillFailing, .recovered] {
            let record = try one("script", event)
            let json = try JSONValue.parse(try String(contentsOfFile: "\(out)/cmd-\(record.id).json", encoding: .utf8))
            #expect(json["event"]?.stringValue == event.rawValue && json["id"]?.intValue == record.id)
            let environment = try String(contentsOfFile: "\(out)/cmd-\(record.id).env", encoding: .utf8)
            #expect(environment.contains("JOBCONTROL_EVENT=\(event.rawValue)\n"), "\(environment)")
            #expect(environment.contains("JOBCONTROL_JOB_ID=flaky\n"))
        }
        // What a command leaves running is stopped with it.
        let leftover = try #require(
            Int32(
                try String(contentsOfFile: out + "/leftover.pid", encoding: .utf8).trimmingCharacters(
                    in: .whitespacesAndNewlines)))
        // (A zombie has ended: init reaps what was reparented to it when it gets to it.)
        try await waitFor("the command's leftover to be gone", timeout: .seconds(10)) {
            ContainmentTests.isGone(leftover)
        }
        // Email through sendmail -t.
        let mails = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasSuffix(".txt") }
        #expect(mails.count == 1)
        let mail = try String(contentsOfFile: "\(out)/\(mails[0])", encoding: .utf8)
        #expect(mail.contains("To: ops@example.com\n") && mail.contains("From: jobcontrol@example.com\n"))
        #expect(mail.contains("Subject: [jobcontrol] flaky: build 1 failed: CommandFailed"), "\(mail)")
        let mailArguments = try String(
            contentsOfFile: "\(out)/\(mails[0].replacingOccurrences(of: ".txt", with: ".args"))", encoding: .utf8)
        #expect(mailArguments.trimmingCharacters(in: .whitespacesAndNewlines) == "-t -i")

        // A re-send is a new attempt under the same id; the receiver sees the same delivery again.
        #expect(try await daemon.jobctl("notify", "resend", String(failed.id)).status == 0)
        try await waitFor("the re-send") { receiver.answered(failed.id).count == 2 }
        #expect(try await Self.attempts(daemon, failed.id).count == 4)
        // A test event: the first attempt gets a 500 (exit 1), and the human output says so.
        let test = try await daemon.jobctl("notify", "test", "hook")
        #expect(test.status == 1 && test.stdout.contains("HTTP 500"), "\(test.stdout)\(test.stderr)")
        let unknown = try await daemon.jobctl("notify", "test", "nope")
        #expect(unknown.status == 1 && unknown.stderr.contains("no channel 'nope'"), "\(unknown.stderr)")
        let channels = try await daemon.jobctl("notify", "channels")
        #expect(channels.stdout.contains("hook") && !channels.stdout.contains("k3y"), "\(channels.stdout)")
        try await daemon.stop()
    }

    /// A missed occurrence after downtime, a silence window passing with no build at all, a
    /// build running past warn_after, and a trigger job that learns which build triggered it.
    @Test(.timeLimit(.minutes(2)))
    func missedSilenceLongRunningAndTrigger() async throws {
        let side = try TemporaryDirectory()
        let out = side.path
        let config = """
            notifications:
              channels:
                record:
                  command: 'cat > "$OUT/.part-$JOBCONTROL_NOTIFICATION_ID" && mv "$OUT/.part-$JOBCONTROL_NOTIFICATION_ID" "$OUT/$JOBCONTROL_EVENT-$JOBCONTROL_JOB_ID-$JOBCONTROL_NOTIFICATION_ID.json"'
                cleanup: {trigger: [clean-up]}
              default: [record]
            jobs:
              - id: ticking
                command: 'true'
                schedule: '*:*:0/2'
                notify: [{channel: record, events: [missed]}]
              - id: quiet
                command: 'true'
                expect_success_within: 2s
              - id: slow
                command: 'while [ ! -e "$OUT/slow.go" ]; do sleep 0.05; done'
                warn_after: 1s
              - id: breaks
                command: 'exit 3'
                notify: [record, {channel: cleanup, events: [failed]}]
              - id: clean-up
                command: 'env | grep JOBCONTROL_TRIGGER_ | sort > "$OUT/trigger.env"'
                notify: []
            """
        var daemon = try await DaemonProcess(config: config, environment: ["OUT": out])
        func written(_ prefix: String) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).filter { $0.hasPrefix(prefix) }
        }
        // Silence: nothing ever ran, and the window passes.
        try await waitFor("a silence notification", timeout: .seconds(30)) { !written("silence-quiet-").isEmpty }
        let silence = try JSONValue.parse(
            try String(contentsOfFile: out + "/" + written("silence-quiet-")[0], encoding: .utf8))
        #expect(silence["expect_success_within"]?.doubleValue == 2 && silence["last_success"] == nil)
        // warn_after: a build still running after 1 s (it runs until the notification is seen:
        // a `sleep 3` could end before a slow daemon's check).
        #expect(try await daemon.jobctl("run", "slow").status == 0)
        try await waitFor("a long_running notification", timeout: .seconds(20)) {
            !written("long_running-slow-").isEmpty
        }
        #expect(FileManager.default.createFile(atPath: out + "/slow.go", contents: nil))
        // A failure: recorded, and the trigger channel runs clean-up with the failed build's facts.
        let breaks = try await daemon.jobctl("run", "breaks", "--wait")
        #expect(breaks.status == 1)
        // `sort` writes its whole output at once, at its end.
        try await waitFor("the triggered build", timeout: .seconds(20)) {
            ((try? String(contentsOfFile: out + "/trigger.env", encoding: .utf8)) ?? "").contains("JOBCONTROL_TRIGGER")
        }
        let trigger = try String(contentsOfFile: out + "/trigger.env", encoding: .utf8)
        #expect(trigger.contains("JOBCONTROL_TRIGGER_BUILD_STATE=failed\n"), "\(trigger)")
        #expect(
            trigger.contains("JOBCONTROL_TRIGGER_JOB_ID=breaks\n")
                && trigger.contains("JOBCONTROL_TRIGGER_EVENT=failed\n"))
        #expect(!written("failed-breaks-").isEmpty)
        let cleanups = try await Self.notifications(daemon, "--job", "breaks")
        #expect(cleanups.contains { $0.channel == "cleanup" && $0.state == .delivered }, "\(cleanups)")

        // Downtime: occurrences of the 2-second schedule pass while no daemon runs. Only the
        // notifications of the downtime count: a daemon starved for over 2 s while it ran also
        // records the occurrences it slept through as missed (the clock jumped for it).
        try await daemon.stop()
        try await Task.sleep(for: .seconds(3))
        daemon = try await DaemonProcess(directory: daemon.directory, environment: ["OUT": out])
        func downtime() -> [JSONValue] {
            written("missed-ticking-").compactMap { name in
                (try? String(contentsOfFile: out + "/" + name, encoding: .utf8)).flatMap { try? JSONValue.parse($0) }
            }.filter { $0["reason"]?.stringValue?.contains("jobcontrold was not running") == true }
        }
        try await waitFor("a missed notification", timeout: .seconds(30)) { !downtime().isEmpty }
        let missed = downtime()[0]
        #expect(missed["occurrence"] != nil && missed["outcome"] == "missed")
        #expect(downtime().count == 1, "one notification for the lot: \(written("missed-"))")
        try await daemon.stop()
    }

    /// SIGKILL with notifications pending and one in flight: after the restart each is delivered;
    /// what was acknowledged before the crash is not sent again; the interrupted attempt shows.
    @Test(.timeLimit(.minutes(2)))
    func sigkillMidDeliveryLosesNothingAndRepeatsNothingAcknowledged() async throws {
        let receiver = try await WebhookReceiver(secret: "key")
        let config = """
            workers: 4
            notifications:
              concurrency: 1
              channels:
                hook: {webhook: "\(receiver.url("/control"))", secret: key, timeout: 30s, backoff: 1s}
            jobs:
              - {id: a, command: 'exit 1', notify: [hook]}
              - {id: b, command: 'exit 1', notify: [hook]}
              - {id: c, command: 'exit 1', notify: [hook]}
              - {id: d, command: 'sleep 120', notify: [hook]}
            """
        var daemon = try await DaemonProcess(config: config)
        // d runs through the crash: crash recovery fails it, and that failure notifies too.
        #expect(try await daemon.jobctl("run", "d").status == 0)
        #expect(try await daemon.jobctl("run", "a", "--wait").status == 1)
        try await waitFor("a's notification to be delivered") {
            (try? await Self.notifications(daemon))?.first?.state == .delivered
        }
        let acknowledged = try #require(try await Self.notifications(daemon).first)
        // The receiver now holds every request: b's is in flight, c's waits behind it.
        try receiver.setHanging(true)
        #expect(try await daemon.jobctl("run", "b", "--wait").status == 1)
        #expect(try await daemon.jobctl("run", "c", "--wait").status == 1)
        try await waitFor("a request in flight") {
            receiver.entries.filter { $0["kind"] == "received" }.count == 2
        }
        daemon.kill()
        try receiver.setHanging(false)
        daemon = try await DaemonProcess(directory: daemon.directory)
        try await waitFor("every notification to be delivered", timeout: .seconds(60)) {
            let records = (try? await Self.notifications(daemon)) ?? []
            return records.count == 4 && records.allSatisfy { $0.state == .delivered }
        }
        let records = try await Self.notifications(daemon)
        #expect(receiver.answered(acknowledged.id).count == 1, "an acknowledged notification is not sent twice")
        for record in records {
            #expect(receiver.answered(record.id).count >= 1)
        }
        let interrupted = try #require(records.first { $0.jobID == "b" })
        let attempts = try await Self.attempts(daemon, interrupted.id)
        #expect(attempts.first?.outcome == .interrupted && attempts.last?.outcome == .delivered, "\(attempts)")
        let restarted = try #require(records.first { $0.jobID == "d" })
        #expect(restarted.event == .failed && restarted.payload["exception"]?["type"] == "DaemonRestarted")
        let pending = try #require(records.first { $0.jobID == "c" })
        #expect(try await Self.attempts(daemon, pending.id).map(\.outcome) == [.delivered])
        try await daemon.stop()
    }

    /// HTTPS: a receiver with a certificate of its own CA is refused with the system's
    /// certificates, and reached with `ca_file`.
    @Test(.timeLimit(.minutes(1)))
    func httpsIsVerifiedAndCaFileTrustsAnInternalCA() async throws {
        let keys = try TemporaryDirectory()
        let made = try await runProcess(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", keys.file("key.pem"), "-out",
                keys.file("cert.pem"),
            ])
        #expect(made.status == 0, "\(made.stderr)")
        let receiver = try await WebhookReceiver(
            secret: "tls", tls: (cert: keys.file("cert.pem"), key: keys.file("key.pem")))
        receiver.scheme = "https"
        let config = """
            notifications:
              channels:
                trusted: {webhook: "\(receiver.url("/ok"))", secret: tls, ca_file: \(keys.file("cert.pem")), attempts: 1}
                system: {webhook: "\(receiver.url("/ok"))", secret: tls, attempts: 1}
            jobs:
              - {id: a, command: 'true'}
            """
        let daemon = try await DaemonProcess(config: config)
        let trusted = try await daemon.jobctl("notify", "test", "trusted")
        #expect(trusted.status == 0 && trusted.stdout.contains("delivered (HTTP 200"), "\(trusted.stdout)")
        let system = try await daemon.jobctl("notify", "test", "system")
        #expect(system.status == 1 && system.stdout.lowercased().contains("certificate"), "\(system.stdout)")
        #expect(receiver.entries.filter { $0["kind"] == "answered" }.count == 1)
        #expect(receiver.entries.allSatisfy { $0["kind"] != "received" || $0["signature_ok"] == true })
        try await daemon.stop()
    }

    /// Two daemons share a PostgreSQL database and both deliver: each notification is delivered
    /// by exactly one of them.
    @Test(
        .timeLimit(.minutes(3)),
        .enabled(
            if: ProcessInfo.processInfo.environment["JOBCONTROL_TEST_PG_URL"] != nil,
            "no PostgreSQL server: set JOBCONTROL_TEST_PG_URL (scripts/test.sh starts one)"))
    func twoDaemonsDeliverEachNotificationOnce() async throws {
        let receiver = try await WebhookReceiver(secret: "shared", failFirst: 1)
        let (storage, url) = try ClusterTests.freshSchema("notify")
        defer { try? storage.uninstall() }
        var config = """
            storage: \(url)
            workers: 2
            cluster: {lease: 2s}
            notifications:
              channels:
                hook: {webhook: "\(receiver.url("/flaky"))", secret: shared, backoff: 1s}
            jobs:

            """
        for index in 1...20 { config += "  - {id: f\(index), command: 'exit 1', notify: [hook]}\n" }
        config += "  - {id: long, command: 'sleep 120', notify: [hook]}\n"
        let directory = try TemporaryDirectory()
        try directory.write("jobcontrol.yaml", config)
        let first = try await DaemonProcess(
            directory: directory, storageURL: url, name: "one", arguments: ["--node", "one"])
        let second = try await DaemonProcess(
            directory: directory, storageURL: url, name: "two", arguments: ["--node", "two"])
        for index in 1...20 {
            let daemon = index % 2 == 0 ? first : second
            #expect(try await daemon.jobctl("run", "f\(index)").status == 0)
        }
        try await waitFor("20 delivered notifications", timeout: .seconds(120)) {
            let records = (try? storage.listNotifications(jobID: nil, state: .delivered, limit: 100)) ?? []
            return records.count == 20
        }
        let records = try storage.listNotifications(jobID: nil, state: nil, limit: 100)
        #expect(records.count == 20)
        var nodes: Set<String> = []
        for record in records {
            #expect(receiver.answered(record.id).count == 1, "notification \(record.id) delivered once")
            let attempts = try #require(try storage.notification(record.id)?.1)
            #expect(attempts.map(\.outcome) == [.failed, .delivered], "\(attempts)")
            nodes.formUnion(attempts.map(\.node))
        }
        #expect(receiver.entries.allSatisfy { $0["kind"] != "received" || $0["signature_ok"] == true })
        #expect(nodes.isSubset(of: ["one", "two"]))
        // The daemon running a build is killed: the other recovers the build when the lease
        // expires, and its failure (DaemonLost) notifies, written in the recovery's transaction.
        #expect(try await first.jobctl("run", "long").status == 0)
        try await waitFor("the long build to start") {
            ((try? storage.getJobBuilds(jobID: "long", filter: BuildFilter(), order: .ascending, limit: 1)) ?? [])
                .first?.started == true
        }
        let long = try #require(
            try storage.getJobBuilds(jobID: "long", filter: BuildFilter(), order: .ascending, limit: 1).first)
        let (victim, survivor) = long.node == "one" ? (first, second) : (second, first)
        victim.kill()
        try await waitFor("the lost build's notification", timeout: .seconds(60)) {
            ((try? storage.listNotifications(jobID: "long", state: .delivered, limit: 1)) ?? []).count == 1
        }
        let lost = try #require(try storage.listNotifications(jobID: "long", state: nil, limit: 10).first)
        #expect(lost.event == .failed && lost.payload["exception"]?["type"] == "DaemonLost", "\(lost)")
        #expect(receiver.answered(lost.id).count == 1)
        try await survivor.stop()
    }
}
