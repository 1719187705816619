import Dispatch
import FoundationEssentials
import Glibc
import JobControl
import JobControlProtocol
import Logging
import Synchronization

/// Answers Varlink calls: one method per function, dispatched by one exhaustive switch.
///
/// Holds only immutable references (the engine actor owns mutable state), so it is `Sendable`.
final class ControlService: Sendable {
    typealias Send = (VarlinkReply) async throws -> Void

    let engine: BuildEngine
    let scheduler: Scheduler
    let storage: any Storage
    let reloader: Reloader
    /// Set when several daemons share the database.
    let cluster: ClusterMember?
    /// This daemon's name (in notifications).
    let node: String
    let startTime: Date
    let logger: Logger
    /// `http://HOST:PORT/` of the HTTP listener once it is bound (`Status` shows its metrics URL).
    let httpBase = Mutex<String?>(nil)
    var httpURL: String? { httpBase.withLock { $0 } }

    static let version = JobControlVersion.current

    init(
        engine: BuildEngine, scheduler: Scheduler, storage: any Storage, reloader: Reloader,
        cluster: ClusterMember? = nil, node: String = ClusterMember.hostName,
        startTime: Date, logger: Logger
    ) {
        self.cluster = cluster
        self.node = node
        self.engine = engine
        self.scheduler = scheduler
        self.storage = storage
        self.reloader = reloader
        self.startTime = startTime
        self.logger = logger
    }

    /// Answers `call` through `send`: one reply, or several for a `more` call. Errors become
    /// Varlink error replies; only a failure to send ends the connection.
    func handle(_ call: VarlinkCall, peer: AccessPolicy.Peer?, send: Send) async throws {
        do {
            try await authorize(call, peer: peer)
            try await dispatch(call, peer: peer, send: send)
        } catch let error as VarlinkError {
            try await send(VarlinkReply(error: error))
        }
    }

    /// Answers a call that has been authorized (by ``authorize(_:peer:)``, or by the HTTP
    /// listener's token check); a Varlink error is thrown, not sent.
    func dispatch(_ call: VarlinkCall, peer: AccessPolicy.Peer?, send: Send) async throws {
        switch (call.interface, call.methodName) {
        case (Interfaces.service, "GetInfo"): try await send(getInfo())
        case (Interfaces.service, "GetInterfaceDescription"): try await send(getInterfaceDescription(call))
        case (Interfaces.manager, "ListJobs"): try await send(listJobs())
        case (Interfaces.manager, "GetJob"): try await send(getJob(call))
        case (Interfaces.manager, "RunJob"): try await runJob(call, send: send)
        case (Interfaces.manager, "ListBuilds"): try await send(await listBuilds(call))
        case (Interfaces.manager, "GetBuild"): try await send(getBuild(call))
        case (Interfaces.manager, "GetLogs"): try await getLogs(call, send: send)
        case (Interfaces.manager, "GetProgress"): try await getProgress(call, send: send)
        case (Interfaces.manager, "CancelBuild"): try await send(cancelBuild(call))
        case (Interfaces.manager, "DeleteBuild"): try await send(deleteBuild(call))
        case (Interfaces.build, _): try await send(buildHelper(call))
        case (Interfaces.manager, "Status"): try await send(status())
        case (Interfaces.manager, "Prune"): try await send(prune(call))
        case (Interfaces.manager, "Reload"): try await send(reload())
        case (Interfaces.manager, "NextRuns"): try await send(nextRuns(call))
        case (Interfaces.manager, "Suspend"): try await send(suspend(call, true))
        case (Interfaces.manager, "Resume"): try await send(suspend(call, false))
        case (Interfaces.manager, "Calendar"): try await send(calendar(call))
        case (Interfaces.manager, "ListNotifications"): try await send(listNotifications(call))
        case (Interfaces.manager, "GetNotification"): try await send(getNotification(call))
        case (Interfaces.manager, "ResendNotification"): try await send(resendNotification(call, peer: peer))
        case (Interfaces.manager, "TestChannel"): try await send(testChannel(call, peer: peer))
        case (Interfaces.manager, "ListChannels"): try await send(listChannels())
        case (let interface, _) where Interfaces.all[interface] == nil:
            throw VarlinkError.interfaceNotFound(interface)
        default:
            throw VarlinkError.methodNotFound(call.method)
        }
    }

    // MARK: - Authorization

    /// What each Manager method needs (`access:`); anything else of the Manager needs admin.
    static let requiredLevel: [String: AccessPolicy.Level] = [
        "ListJobs": .read, "GetJob": .read, "ListBuilds": .read, "GetBuild": .read, "GetLogs": .read,
        "GetProgress": .read, "Status": .read, "NextRuns": .read, "Calendar": .read,
        "ListNotifications": .read, "GetNotification": .read, "ListChannels": .read,
        "RunJob": .run, "CancelBuild": .run, "Suspend": .run, "Resume": .run,
        "ResendNotification": .run, "TestChannel": .run,
        "Reload": .admin, "DeleteBuild": .admin, "Prune": .admin,
    ]

    /// Refuses a Manager call the peer may not make. Introspection (`org.varlink.service`) is
    /// open to whoever can connect; `io.jobcontrol.Build` calls carry their build's token instead.
    func authorize(_ call: VarlinkCall, peer: AccessPolicy.Peer?) async throws(VarlinkError) {
        guard call.interface == Interfaces.manager, let policy = await engine.config.access else { return }
        let required = Self.requiredLevel[call.methodName] ?? .admin
        let granted = peer.flatMap { policy.level(of: $0) }
        if let granted, granted >= required { return }
        logger.warning(
            "refused a call: not allowed by 'access'",
            metadata: [
                "method": "\(call.method)", "peer": "\(peer?.description ?? "unknown")", "required": "\(required)",
            ])
        throw VarlinkError(
            "\(Interfaces.manager).AccessDenied",
            parameters: ["method": .string(call.method), "required": .string(required.description)],
            message:
                "\(peer?.userName.map { "user '\($0)'" } ?? "this user") may not call \(call.methodName): it needs '\(required)' access, which 'access:' in the daemon's configuration does not grant (it has \(granted?.description ?? "none"))"
        )
    }

    // MARK: - org.varlink.service

    func getInfo() -> VarlinkReply {
        VarlinkReply(parameters: [
            "vendor": "JobControl",
            "product": "jobcontrold",
            "version": .string(Self.version),
            "url": "https://github.com/jobcontrol/jobcontrol",
            "interfaces": .array(Interfaces.all.keys.sorted().map { .string($0) }),
        ])
    }

    func getInterfaceDescription(_ call: VarlinkCall) throws(VarlinkError) -> VarlinkReply {
        let name = try Parameters(call).string("interface")
        guard let description = Interfaces.all[name] else { throw .interfaceNotFound(name) }
        return VarlinkReply(parameters: ["description": .string(description)])
    }

    // MARK: - Helpers

    func existingBuild(_ id: Int64) throws(VarlinkError) -> Build {
        do {
            guard let build = try storage.getBuild(id) else { throw EngineError.noSuchBuild(id) }
            return build
        } catch let error as StorageError {
            throw Self.varlinkError(.storage(error))
        } catch {
            throw Self.varlinkError(error as? EngineError ?? .noSuchBuild(id))
        }
    }

    static func varlinkError(_ error: EngineError) -> VarlinkError {
        let manager = Interfaces.manager
        switch error {
        case .noSuchJob(let job):
            return VarlinkError("\(manager).NoSuchJob", parameters: ["job": .string(job)], message: error.description)
        case .shuttingDown:
            return VarlinkError("\(manager).ShuttingDown", message: error.description)
        case .jobDisabled(let job):
            return VarlinkError("\(manager).JobDisabled", parameters: ["job": .string(job)], message: error.description)
        case .jobProtected(let job):
            return VarlinkError(
                "\(manager).JobProtected", parameters: ["job": .string(job)], message: error.description)
        case .noSuchBuild(let id):
            return VarlinkError("\(manager).NoSuchBuild", parameters: ["id": .int(id)], message: error.description)
        case .buildNotRunning(let id):
            return VarlinkError("\(manager).BuildNotRunning", parameters: ["id": .int(id)], message: error.description)
        case .dependencyNotBuilt(let job, let dependency):
            return VarlinkError(
                "\(manager).DependencyNotBuilt", parameters: ["job": .string(job), "dependency": .string(dependency)],
                message: error.description)
        case .buildRunning(let id):
            return VarlinkError("\(manager).BuildRunning", parameters: ["id": .int(id)], message: error.description)
        case .buildInUse(let id, let user):
            return VarlinkError(
                "\(manager).BuildInUse", parameters: ["id": .int(id), "by": .int(user)], message: error.description)
        case .cleanupFailed(let build, _):
            return VarlinkError("\(manager).CleanupFailed", parameters: ["id": .int(build)], message: error.description)
        case .dependencyFailed(let job, let dependency, let build):
            return VarlinkError(
                "\(manager).DependencyFailed",
                parameters: ["job": .string(job), "dependency": .string(dependency), "build": .int(build)],
                message: error.description)
        case .badPin(let job, let dependency, _):
            return VarlinkError(
                "\(manager).BadPin", parameters: ["job": .string(job), "dependency": .string(dependency)],
                message: error.description)
        case .notScheduled(let job):
            return VarlinkError(
                "\(manager).NotScheduled", parameters: ["job": .string(job)], message: error.description)
        case .invalidParameters(let job, _):
            return VarlinkError(
                "\(manager).InvalidJobParameters", parameters: ["job": .string(job)], message: error.description)
        case .storage:
            return VarlinkError("\(manager).StorageFailed", message: error.description)
        }
    }
}
