import Dispatch
import FoundationEssentials
import Glibc
import JobControl
import JobControlProtocol

/// io.jobcontrol.Manager: notifications (the outbox) and their channels.
extension ControlService {
    func listNotifications(_ call: VarlinkCall) throws(VarlinkError) -> VarlinkReply {
        let parameters = Parameters(call)
        let state = try parameters.optionalString("state").map { (name: String) throws(VarlinkError) in
            guard let state = NotificationState(rawValue: name) else { throw VarlinkError.invalidParameter("state") }
            return state
        }
        let limit = min(max(try parameters.optionalInt("limit") ?? 50, 1), 10_000)
        let jobID = try parameters.optionalString("job")
        do throws(StorageError) {
            let records = try storage.listNotifications(jobID: jobID, state: state, limit: Int(limit))
            return VarlinkReply(parameters: ["notifications": .array(records.map(\.json))])
        } catch {
            throw Self.varlinkError(.storage(error))
        }
    }

    func getNotification(_ call: VarlinkCall) throws(VarlinkError) -> VarlinkReply {
        let id = try Parameters(call).int("id")
        return try notificationReply(id)
    }

    private func notificationReply(_ id: Int64) throws(VarlinkError) -> VarlinkReply {
        let found: (NotificationRecord, [NotificationAttempt])?
        do { found = try storage.notification(id) } catch { throw Self.varlinkError(.storage(error)) }
        guard let (record, attempts) = found else { throw Self.noSuchNotification(id) }
        return VarlinkReply(parameters: ["notification": record.json, "attempts": .array(attempts.map(\.json))])
    }

    static func noSuchNotification(_ id: Int64) -> VarlinkError {
        VarlinkError(
            "\(Interfaces.manager).NoSuchNotification", parameters: ["id": .int(id)],
            message: "no notification with id \(id) (jobctl notify list shows them; retention may have removed it)")
    }

    func resendNotification(_ call: VarlinkCall, peer: AccessPolicy.Peer?) throws(VarlinkError) -> VarlinkReply {
        let id = try Parameters(call).int("id")
        let resent: Bool
        do { resent = try storage.resendNotification(id, now: Date()) } catch {
            throw Self.varlinkError(.storage(error))
        }
        guard resent else {
            guard (try? storage.notification(id)) != nil else { throw Self.noSuchNotification(id) }
            throw VarlinkError(
                "\(Interfaces.manager).NotificationBusy", parameters: ["id": .int(id)],
                message: "notification \(id) is being sent right now; try again when its attempt has ended")
        }
        logger.notice(
            "notification queued again", metadata: ["notification.id": "\(id)", "by": "\(peer?.description ?? "-")"])
        engine.notificationWake.signal()
        return try notificationReply(id)
    }

    /// Sends a `test` event to a channel and waits (up to its timeout and a little more) for the
    /// first attempt's outcome.
    func testChannel(_ call: VarlinkCall, peer: AccessPolicy.Peer?) async throws(VarlinkError) -> VarlinkReply {
        let name = try Parameters(call).string("channel")
        let config = await engine.config
        guard let channel = config.notifications.channels[name] else {
            let known = config.notifications.channels.keys.sorted()
            throw VarlinkError(
                "\(Interfaces.manager).NoSuchChannel", parameters: ["channel": .string(name)],
                message:
                    "no channel '\(name)' under notifications.channels"
                    + (known.isEmpty ? "" : " (defined: \(known.joined(separator: ", ")))"))
        }
        let draft = NotificationDraft(
            channel: name, event: .test, jobID: nil, buildID: nil,
            payload: [
                "node": .string(node), "requested_by": .string(peer?.description ?? "-"),
                "message": "a test notification from jobcontrold (jobctl notify test)",
            ])
        let id: Int64
        do throws(StorageError) { id = try storage.addNotification(draft, now: Date()) } catch {
            throw Self.varlinkError(.storage(error))
        }
        logger.notice(
            "test notification queued",
            metadata: ["notification.id": "\(id)", "channel": "\(name)", "by": "\(peer?.description ?? "-")"])
        engine.notificationWake.signal()
        let deadline = ContinuousClock.now + .milliseconds(Int64(channel.timeout * 1000)) + .seconds(5)
        while ContinuousClock.now < deadline {
            if let (_, attempts) = try? storage.notification(id), attempts.contains(where: { $0.outcome != .running }) {
                break
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return try notificationReply(id)
    }

    func listChannels() async -> VarlinkReply {
        let config = await engine.config
        let channels = config.notifications.channels.keys.sorted().map { name -> JSONValue in
            let channel = config.notifications.channels[name]!
            var object: [String: JSONValue] = [
                "name": .string(name), "kind": .string(channel.kindName), "attempts": .int(Int64(channel.attempts)),
                "timeout": .double(channel.timeout),
            ]
            object["target"] = .string(Self.target(channel))
            return .object(object)
        }
        return VarlinkReply(parameters: ["channels": .array(channels)])
    }

    /// Where a channel sends, as it may be shown: a secret's name, never its value; a URL
    /// without its query, user or password.
    static func target(_ channel: NotificationChannel) -> String {
        switch channel.kind {
        case .webhook(let webhook):
            switch webhook.url {
            case .secret(let name): return "!secret \(name)"
            case .string(let url):
                // Scheme and host only: chat services put their tokens in the path.
                guard let components = URLComponents(string: url), let scheme = components.scheme,
                    let host = components.host
                else { return "(a URL)" }
                return "\(scheme)://\(host)\(components.port.map { ":\($0)" } ?? "")/…"
            default: return "(a URL)"
            }
        case .command(let argv, _): return argv.count > 2 && argv[0] == "/bin/sh" ? "sh -c …" : argv[0]
        case .email(let email): return email.to.joined(separator: ", ")
        case .trigger(let jobs): return jobs.joined(separator: ", ")
        }
    }
}
