import ArgumentParser
import JobControlModel
import JobControlProtocol

extension JobCtl {
    /// `jobctl notify list|show|resend|test|channels`: the outbox and its channels.
    struct Notify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "notify",
            abstract:
                "Notifications: list them with their delivery state, show one's attempts, re-send, test a channel.",
            subcommands: [List.self, ShowOne.self, Resend.self, Test.self, Channels.self],
            defaultSubcommand: List.self)

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "list", abstract: "List notifications, newest first.")

            @OptionGroup var global: GlobalOptions

            @Option(help: "Only notifications about this job.")
            var job: String?

            @Option(help: "Only those in this state: pending, sending, delivered or failed.")
            var state: String?

            @Option(help: "How many at most.")
            var limit: Int = 30

            func run() async throws {
                var parameters: [String: JSONValue] = ["limit": .int(Int64(limit))]
                if let job { parameters["job"] = .string(job) }
                if let state { parameters["state"] = .string(state) }
                let values = try arrayParameter(
                    try global.call("\(Interfaces.manager).ListNotifications", parameters), "notifications")
                if global.json {
                    printJSON(.array(values))
                    return
                }
                let records = values.compactMap(NotificationRecord.init(json:))
                printTable(
                    ["ID", "CREATED", "EVENT", "JOB", "BUILD", "CHANNEL", "STATE", "ATTEMPTS", "LAST ERROR"],
                    records.map { record in
                        [
                            String(record.id), displayTime(record.created), record.event.rawValue, record.jobID ?? "-",
                            record.buildID.map(String.init) ?? "-", record.channel, record.state.rawValue,
                            String(record.attempts), String((record.lastError ?? "").prefix(60)),
                        ]
                    })
            }
        }

        struct ShowOne: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "show", abstract: "Show a notification with each attempt to deliver it.")

            @OptionGroup var global: GlobalOptions

            @Argument(help: "The notification id.")
            var id: Int64

            func run() async throws {
                let reply = try global.call("\(Interfaces.manager).GetNotification", ["id": .int(id)])
                printNotification(reply, json: global.json)
            }
        }

        struct Resend: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "resend", abstract: "Send a notification again (a new attempt under the same id).")

            @OptionGroup var global: GlobalOptions

            @Argument(help: "The notification id.")
            var id: Int64

            func run() async throws {
                let reply = try global.call("\(Interfaces.manager).ResendNotification", ["id": .int(id)])
                if global.json {
                    printJSON(.object(reply))
                } else {
                    print("notification \(id): queued to be sent again")
                }
            }
        }

        struct Test: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "test",
                abstract: "Send a test event to a channel and show how the first attempt went.",
                discussion: "Exit status 1 when the attempt failed.")

            @OptionGroup var global: GlobalOptions

            @Argument(help: "The channel's name (notifications.channels).")
            var channel: String

            func run() async throws {
                let reply = try global.call("\(Interfaces.manager).TestChannel", ["channel": .string(channel)])
                printNotification(reply, json: global.json)
                guard case .array(let attempts)? = reply["attempts"],
                    attempts.first?["outcome"]?.stringValue == "delivered"
                else { throw ExitCode(1) }
            }
        }

        struct Channels: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "channels", abstract: "List the configured channels (secrets are never shown).")

            @OptionGroup var global: GlobalOptions

            func run() async throws {
                let values = try arrayParameter(try global.call("\(Interfaces.manager).ListChannels"), "channels")
                if global.json {
                    printJSON(.array(values))
                    return
                }
                printTable(
                    ["NAME", "KIND", "TARGET", "ATTEMPTS", "TIMEOUT"],
                    values.map { value in
                        [
                            value["name"]?.stringValue ?? "", value["kind"]?.stringValue ?? "",
                            value["target"]?.stringValue ?? "", String(value["attempts"]?.intValue ?? 0),
                            (value["timeout"]?.doubleValue ?? 0).oneDecimalText + "s",
                        ]
                    })
            }
        }
    }
}

/// A notification and its attempts, for people (or as JSON).
func printNotification(_ reply: [String: JSONValue], json: Bool) {
    if json {
        printJSON(.object(reply))
        return
    }
    guard let value = reply["notification"], let record = NotificationRecord(json: value) else {
        printJSON(.object(reply))
        return
    }
    print("Notification: \(record.id)")
    print("Event:        \(record.event.rawValue)")
    print("Channel:      \(record.channel)")
    if let job = record.jobID { print("Job:          \(job)") }
    if let build = record.buildID { print("Build:        \(build)") }
    print("State:        \(record.state.rawValue)")
    print("Created:      \(displayTime(record.created))")
    if let delivered = record.delivered { print("Delivered:    \(displayTime(delivered))") }
    if record.state == .pending, let next = record.nextAttempt { print("Next attempt: \(displayTime(next))") }
    if let reason = record.payload["reason"]?.stringValue { print("Reason:       \(reason)") }
    if let exception = record.payload["exception"]?["message"]?.stringValue { print("Exception:    \(exception)") }
    guard case .array(let attempts)? = reply["attempts"], !attempts.isEmpty else {
        print("Attempts:     none yet")
        return
    }
    print("Attempts:")
    for attempt in attempts.compactMap({ NotificationAttempt(json: $0, notificationID: record.id) }) {
        print(
            "  \(attempt.number). \(displayTime(attempt.started)) on \(attempt.node): \(attempt.outcome.rawValue)"
                + (attempt.detail.map { " (\($0))" } ?? ""))
    }
}
