import ArgumentParser
import FoundationEssentials
import Glibc
import JobControlModel
import JobControlProtocol

extension JobCtl {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the daemon's state.")

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try Self.show(socket: global.socket, json: global.json)
        }

        /// Prints the daemon's state (also reached by ``FastPath``).
        static func show(socket: String?, json: Bool) throws {
            let status = try GlobalOptions.call(socket: socket, "\(Interfaces.manager).Status")
            if json {
                printJSON(.object(status))
                if status["storage_error"] != nil { throw ExitCode(1) }
                return
            }
            print(
                "jobcontrold \(status["version"]?.stringValue ?? "?") (pid \(status["pid"]?.intValue ?? 0)), up since \(displayTime(WireFormat.date(status["started"])))"
            )
            print("config:  \(status["config_file"]?.stringValue ?? "-")")
            print("storage: \(status["storage"]?.stringValue ?? "-")")
            if let url = status["dashboard_url"]?.stringValue { print("web:     \(url) (dashboard; API under api/v1)") }
            if let url = status["metrics_url"]?.stringValue { print("metrics: \(url)") }
            let outage = status["storage_error"]?.stringValue
            if let outage {
                print(
                    "         UNAVAILABLE since \(displayTime(WireFormat.date(status["storage_unavailable_since"]))): \(outage)"
                )
            }
            print(
                "jobs: \(status["jobs"]?.intValue ?? 0), workers: \(status["workers"]?.intValue ?? 0), running: \(status["running"]?.intValue ?? 0), queued: \(status["queued"]?.intValue ?? 0)"
            )
            if let job = status["next_run_job"]?.stringValue {
                print(
                    "next:    \(job) at \(displayTime(WireFormat.date(status["next_run"]))) (\(status["scheduled_jobs"]?.intValue ?? 0) scheduled jobs, \(status["suspended_jobs"]?.intValue ?? 0) suspended)"
                )
            }
            if let reload = status["last_reload"]?.stringValue {
                print("reload:  \(reload) (\(displayTime(WireFormat.date(status["last_reload_time"]))))")
            }
            if case .array(let nodes)? = status["cluster"] {
                print(
                    "cluster: \(nodes.count) daemons sharing the database; this one is \(status["node"]?.stringValue ?? "?"); \(status["shared_queue"]?.intValue ?? 0) builds wait in the shared queue"
                )
                printTable(
                    ["NODE", "HOST", "PID", "STATE", "SCHEDULES", "RUNNING", "WORKERS", "HEARTBEAT", "UP SINCE"],
                    nodes.map { node in
                        let age = node["heartbeat_age"]?.doubleValue ?? 0
                        return [
                            node["node"]?.stringValue ?? "?", node["host"]?.stringValue ?? "?",
                            String(node["pid"]?.intValue ?? 0),
                            node["state"]?.stringValue ?? "?", node["schedules"]?.boolValue == true ? "yes" : "-",
                            String(node["running"]?.intValue ?? 0), String(node["workers"]?.intValue ?? 0),
                            age.oneDecimalText + "s ago", displayTime(WireFormat.date(node["started"])),
                        ]
                    })
            }
            if let error = status["cluster_error"]?.stringValue {
                print("cluster: cannot be listed: \(error)")
            }
            // Degraded is not healthy: scripts and monitoring see it in the exit status.
            if outage != nil { throw ExitCode(1) }
        }
    }
}
