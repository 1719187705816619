import Dispatch
import FoundationEssentials
import Glibc

/// What a notification says, in each channel's form: the JSON body (webhooks, a command's
/// stdin), a one-line summary (chat formats, subjects), an email, environment variables.
struct NotificationMessage: Sendable {
    let record: NotificationRecord
    /// The build's last log lines (oldest first), when it has a build.
    let logTail: [LogRecord]
    let attempt: Int
    let sent: Date

    /// How many log lines a message carries.
    static let logTailLines = 20

    var payload: JSONValue { record.payload }

    /// `backup: build 42 failed: CommandFailed: exit status 1 (3rd failure in a row)`.
    var summary: String {
        let job = record.jobID ?? "jobcontrol"
        let build = record.buildID.map { "build \($0)" } ?? ""
        let failures = payload["consecutive_failures"]?.intValue ?? 0
        let exception = payload["exception"].flatMap { exception -> String? in
            guard let message = exception["message"]?.stringValue else { return nil }
            return (exception["type"]?.stringValue.map { "\($0): " } ?? "") + message
        }
        let reason = payload["reason"]?.stringValue
        var text: String
        switch record.event {
        case .failed: text = "\(job): \(build) failed" + (exception.map { ": \($0)" } ?? "")
        case .stillFailing:
            text =
                "\(job): still failing, \(build) is failure \(failures) in a row" + (exception.map { ": \($0)" } ?? "")
        case .succeeded: text = "\(job): \(build) succeeded"
        case .recovered: text = "\(job): recovered, \(build) succeeded after failures"
        case .missed: text = "\(job): a scheduled run was missed" + (reason.map { ": \($0)" } ?? "")
        case .skipped: text = "\(job): a scheduled run was skipped" + (reason.map { ": \($0)" } ?? "")
        case .silence:
            let window = payload["expect_success_within"]?.doubleValue.map(DurationFormatter.text) ?? "?"
            let last = payload["last_success"]?.stringValue.map { "last success \($0)" } ?? "no success recorded"
            text = "\(job): no successful build within \(window) (\(last))"
        case .longRunning:
            let after = payload["warn_after"]?.doubleValue.map(DurationFormatter.text) ?? "?"
            text = "\(job): \(build) has been running for more than \(after)"
        case .test: text = "test notification from jobcontrold to channel '\(record.channel)'"
        }
        return String(text.prefix(1000))
    }

    /// The documented JSON body (docs/notifications.md).
    var body: JSONValue {
        var object: [String: JSONValue] = [
            "version": 1, "id": .int(record.id), "event": .string(record.event.rawValue),
            "channel": .string(record.channel), "summary": .string(summary), "attempt": .int(Int64(attempt)),
            "created": Timestamps.json(record.created), "sent": Timestamps.json(sent),
        ]
        if case .object(let facts) = payload {
            for (key, value) in facts where object[key] == nil { object[key] = value }
        }
        if !logTail.isEmpty {
            object["log_tail"] = .array(
                logTail.map { record in
                    [
                        "created": Timestamps.json(record.created), "level": .string(LogLevel.name(of: record.level)),
                        "message": .string(String(record.message.prefix(2000))),
                    ]
                })
        }
        return .object(object)
    }

    func webhookBody(_ format: NotificationChannel.WebhookFormat) -> String {
        switch format {
        case .jobcontrol: return body.jsonText()
        case .slack: return JSONValue.object(["text": .string(summary)]).jsonText()
        case .discord: return JSONValue.object(["content": .string(String(summary.prefix(2000)))]).jsonText()
        }
    }

    /// Variables a command channel (and a triggered build) gets.
    var environment: [String: String] {
        var variables = [
            "JOBCONTROL_EVENT": record.event.rawValue, "JOBCONTROL_NOTIFICATION_ID": String(record.id),
            "JOBCONTROL_CHANNEL": record.channel, "JOBCONTROL_SUMMARY": summary,
        ]
        if let job = record.jobID { variables["JOBCONTROL_JOB_ID"] = job }
        if let build = record.buildID { variables["JOBCONTROL_BUILD_ID"] = String(build) }
        if let state = payload["state"]?.stringValue { variables["JOBCONTROL_BUILD_STATE"] = state }
        return variables
    }

    /// A plain-text message for `sendmail -t`: headers (recipients included), a blank line, the body.
    func email(_ settings: NotificationChannel.Email) -> String {
        // Many recipients: one per line, folded (a header line is at most 998 octets too).
        var lines = ["To: " + settings.to.joined(separator: settings.to.count > 5 ? ",\n " : ", ")]
        if let from = settings.from { lines.append("From: " + from) }
        lines += [
            "Subject: " + Self.headerText("[jobcontrol] " + summary),
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
            "Auto-Submitted: auto-generated",
            "X-JobControl-Event: " + record.event.rawValue,
            "X-JobControl-Notification: " + String(record.id),
            "",
            summary,
            "",
        ]
        func add(_ label: String, _ value: String?) { if let value { lines.append("\(label): \(value)") } }
        add("Job", record.jobID)
        add("Build", record.buildID.map(String.init))
        add("State", payload["state"]?.stringValue)
        add("Started by", payload["started_by"]?.stringValue)
        add("Started", payload["start_time"]?.stringValue)
        add("Ended", payload["end_time"]?.stringValue)
        add("Node", payload["node"]?.stringValue)
        add("Reason", payload["reason"]?.stringValue)
        if let exception = payload["exception"] {
            // SMTP allows 998 characters a line.
            let text = (exception["type"]?.stringValue ?? "") + ": " + (exception["message"]?.stringValue ?? "")
            add("Exception", String(text.prefix(900)))
        }
        if !logTail.isEmpty {
            lines += ["", "Last log lines:"]
            for record in logTail {
                // A message's own further lines go on indented: none can pass for a log line.
                let message = record.message.prefix(500).split(
                    omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
                ).joined(separator: "\n      ")
                lines.append(
                    "  \(Timestamps.string(record.created, fractional: false)) \(LogLevel.name(of: record.level)) \(message)"
                )
            }
        }
        lines += ["", "-- ", "jobcontrold: jobctl notify show \(record.id)", ""]
        // A line of a lone "." ends the message for some sendmails without -i.
        // The body's lines are wrapped; the headers (before the first empty line) are folded
        // already, and splitting one would end the header block early.
        let blank = lines.firstIndex(of: "") ?? lines.count
        let body = lines[blank...].flatMap(Self.bodyLines)
        return (Array(lines[..<blank]) + body).map { $0 == "." ? ".." : $0 }.joined(separator: "\n")
    }

    /// Most bytes of a body line: RFC 5322 allows 998 octets, and text is cut on a character's
    /// boundary below that (a line of emoji is four bytes a character).
    static let maxLineBytes = 900

    /// `line` as body lines: a CR or LF inside it (an exception's text) starts a new line, not a
    /// bare CR in the mail, and a line longer than ``maxLineBytes`` goes on in the next one.
    static func bodyLines(_ line: String) -> [String] {
        var result: [String] = []
        for part in line.split(
            omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" })
        {
            var current = ""
            var bytes = 0
            for scalar in part.unicodeScalars {
                let size = String(scalar).utf8.count
                if bytes + size > maxLineBytes {
                    result.append(current)
                    current = ""
                    bytes = 0
                }
                current.unicodeScalars.append(scalar)
                bytes += size
            }
            result.append(current)
        }
        return result
    }

    /// A header value on one line; non-ASCII text as RFC 2047 encoded words of at most 75
    /// characters each, folded onto lines of their own.
    static func headerText(_ text: String) -> String {
        let line = String(text.map { $0 == "\n" || $0 == "\r" ? " " : $0 }.prefix(200))
        guard line.unicodeScalars.contains(where: { !$0.isASCII || $0.value < 32 }) else { return line }
        // 39 bytes make 52 base64 characters: with `=?UTF-8?B?` and `?=`, 64, and a line of
        // `Subject: ` and one word stays under 76.
        var words: [String] = []
        var chunk: [UInt8] = []
        for scalar in line.unicodeScalars {
            let bytes = Array(String(scalar).utf8)
            if chunk.count + bytes.count > 39 {
                words.append("=?UTF-8?B?" + Data(chunk).base64EncodedString() + "?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append("=?UTF-8?B?" + Data(chunk).base64EncodedString() + "?=") }
        return words.joined(separator: "\n ")
    }
}
