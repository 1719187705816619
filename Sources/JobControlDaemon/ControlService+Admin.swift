import Dispatch
import FoundationEssentials
import Glibc
import JobControl
import JobControlProtocol

/// io.jobcontrol.Manager: the daemon's status, retention and reload.
extension ControlService {
    func status() async -> VarlinkReply {
        let config = await engine.config
        let counts = engine.pool.counts
        var parameters: [String: JSONValue] = [
            "version": .string(Self.version),
            "pid": .int(Int64(getpid())),
            "started": WireFormat.timestamp(startTime),
            "storage": .string(StorageFactory.displayName(config.storage)),
            "jobs": .int(Int64(config.jobs.count)),
            "workers": .int(Int64(config.workers)),
            "running": .int(Int64(counts.running)),
            "queued": .int(Int64(counts.queued)),
        ]
        if let file = config.file { parameters["config_file"] = .string(file) }
        if let outage = storage.health.unavailable {
            parameters["storage_unavailable_since"] = WireFormat.timestamp(outage.since)
            parameters["storage_error"] = .string(outage.reason)
        }
        if let next = await scheduler.nextStart() {
            parameters["next_run"] = .string(ScheduleTime.iso8601(next.at, zone: .utc))
            parameters["next_run_job"] = .string(next.jobID)
        }
        let schedules = await scheduler.counts()
        parameters["scheduled_jobs"] = .int(Int64(schedules.scheduled))
        parameters["suspended_jobs"] = .int(Int64(schedules.suspended))
        if let url = httpURL {
            parameters["metrics_url"] = .string(url + "metrics")
            parameters["dashboard_url"] = .string(url)
        }
        if let reload = reloader.lastStatus {
            parameters["last_reload"] = .string(reload.summary)
            parameters["last_reload_ok"] = .bool(reload.succeeded)
            parameters["last_reload_time"] = WireFormat.timestamp(reload.time)
        }
        if let cluster {
            parameters["node"] = .string(cluster.node)
        }
        // While the storage is out, the status says so at once instead of waiting for a
        // database that does not answer (each try may take the connect timeout).
        if let cluster, storage.health.unavailable == nil {
            do {
                let overview = try await cluster.overview()
                parameters["cluster"] = .array(overview.nodes.map(Self.clusterNode))
                parameters["shared_queue"] = .int(Int64(overview.queued))
            } catch {
                logger.warning("cannot list the daemons of the cluster", metadata: ["error": "\(error)"])
                parameters["cluster_error"] = .string(error.message)
            }
        }
        return VarlinkReply(parameters: parameters)
    }

    static func clusterNode(_ node: ClusterNode) -> JSONValue {
        [
            "node": .string(node.node), "host": .string(node.host), "pid": .int(Int64(node.pid)),
            "state": .string(node.state),
            "started": WireFormat.timestamp(node.started), "heartbeat": WireFormat.timestamp(node.heartbeat),
            "heartbeat_age": .double(node.heartbeatAge), "lease": .double(node.lease),
            "workers": .int(Int64(node.workers)),
            "running": .int(Int64(node.running)), "version": .string(node.version), "schedules": .bool(node.schedules),
        ]
    }

    func prune(_ call: VarlinkCall) async throws(VarlinkError) -> VarlinkReply {
        let dryRun = try Parameters(call).optionalBool("dry_run") ?? false
        let report: PruneReport
        do {
            report = try await engine.prune(dryRun: dryRun)
        } catch {
            throw Self.varlinkError(.storage(error))
        }
        if !dryRun, report.logRecords > 0 || report.buildCount > 0 {
            logger.info(
                "pruned on request",
                metadata: ["log.records": "\(report.logRecords)", "builds": "\(report.buildCount)"])
        }
        return VarlinkReply(parameters: WireFormat.prune(report, dryRun: dryRun))
    }

    func reload() async throws(VarlinkError) -> VarlinkReply {
        guard let status = await reloader.reload() else {
            throw VarlinkError(
                "\(Interfaces.manager).ShuttingDown",
                message: "jobcontrold is stopping; the configuration was not reloaded")
        }
        if let errors = status.errors {
            throw VarlinkError(
                "\(Interfaces.manager).ConfigInvalid",
                parameters: ["errors": .array(errors.diagnostics.map { .string($0.description) })],
                message:
                    "the new configuration has \(errors.countText); the previous one keeps running")
        }
        let jobs = await engine.config.jobs.count
        return VarlinkReply(parameters: [
            "jobs": .int(Int64(jobs)), "needs_restart": .array(status.needsRestart.map { .string($0) }),
        ])
    }

}
