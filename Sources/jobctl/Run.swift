import ArgumentParser
import JobControlModel
import JobControlProtocol

extension JobCtl {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Queue a build of a job.",
            discussion: "With --wait, exits 0 only when the build succeeds.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The job to build.")
        var job: String

        @Flag(help: "Wait until the build ends; exit non-zero if it fails.")
        var wait = false

        @Flag(
            name: [.customShort("f"), .long],
            help: "Wait, showing the build's log and a live progress tree (implies --wait).")
        var follow = false

        @Flag(help: "Run a protected job (and protected dependencies, with --build-deps).")
        var force = false

        @Flag(help: "First build missing or outdated dependencies, in order, in parallel where independent.")
        var buildDeps = false

        @Flag(help: "After the build succeeds, build the jobs that depend on it.")
        var buildRevdeps = false

        @Option(name: .customLong("pin"), help: "Use this build of a dependency (DEP=BUILD); repeatable.")
        var pins: [String] = []

        @Option(
            name: [.customShort("p"), .customLong("param")],
            help: ArgumentHelp(
                "Give a parameter of the job (NAME=VALUE); repeatable. DEPENDENCY:NAME=VALUE gives one to a dependency build --build-deps creates (they get none otherwise).",
                valueName: "NAME=VALUE"))
        var params: [String] = []

        @Option(
            name: .customLong("params-json"),
            help: ArgumentHelp(
                "The job's parameters as one JSON object, typed ('{\"count\": 3, \"dry_run\": true}').",
                valueName: "JSON"))
        var paramsJSON: String?

        func run() async throws {
            let method = Self.method
            var parameters = Self.parameters(job: job, force: force, buildDeps: buildDeps, buildRevdeps: buildRevdeps)
            if !pins.isEmpty {
                var object: [String: JSONValue] = [:]
                for pin in pins {
                    let parts = pin.split(separator: "=", maxSplits: 1).map(String.init)
                    guard parts.count == 2, let id = Int64(parts[1]) else {
                        throw ValidationError("--pin takes DEPENDENCY=BUILD_ID, as in --pin fetch=42")
                    }
                    object[parts[0]] = .int(id)
                }
                parameters["pins"] = .object(object)
            }
            let (own, dependencies) = try Self.parameterValues(params, json: paramsJSON)
            if !own.isEmpty { parameters["parameters"] = .object(own) }
            if !dependencies.isEmpty {
                guard buildDeps else {
                    throw ValidationError(
                        "DEPENDENCY:NAME=VALUE gives a dependency build a value; it needs --build-deps")
                }
                parameters["dependency_parameters"] = .object(dependencies.mapValues { .object($0) })
            }
            guard wait || follow else {
                try Self.queue(socket: global.socket, json: global.json, parameters: parameters)
                return
            }
            guard follow else {
                try Self.queueAndWait(socket: global.socket, json: global.json, job: job, parameters: parameters)
                return
            }
            var last: Build?
            var failedOthers: [Build] = []
            var following: Task<Build, any Error>?
            try await global.withConnection { connection in
                try await connection.callMore(method, parameters) { reply in
                    let build = try Build(wire: reply["build"])
                    if build.jobID != job, build.finished, build.state == .failed { failedOthers.append(build) }
                    if !global.json {
                        if build.jobID != job {
                            print(build.finished ? buildSummary(build) : "build \(build.id) of \(build.jobID) queued")
                            // The follower writes the build's log straight to the descriptor.
                            OutputCheck.flushStandardOutput()
                        } else if following == nil, !build.finished {
                            let follower = BuildFollower(socket: global.socket, buildID: build.id)
                            following = Task { try await follower.run() }
                        }
                    }
                    last = build
                }
            }
            if let following { _ = try await following.value }
            try Self.finish(last: last, failedOthers: failedOthers, json: global.json)
        }
    }
}

extension JobCtl.Run {
    static let method = "\(Interfaces.manager).RunJob"

    /// The call's parameters for `run JOB` and its flags (``FastPath`` takes this shape too).
    static func parameters(job: String, force: Bool, buildDeps: Bool, buildRevdeps: Bool) -> [String: JSONValue] {
        var parameters: [String: JSONValue] = ["job": .string(job)]
        if force { parameters["force"] = true }
        if buildDeps { parameters["build_deps"] = true }
        if buildRevdeps { parameters["build_revdeps"] = true }
        return parameters
    }

    /// Queues the build and waits for it on a plain blocking socket (``FastPath`` runs this
    /// too): each dependency build as it ends, then the build; exit status 1 unless it and every
    /// dependency build succeeded.
    static func queueAndWait(socket: String?, json: Bool, job: String, parameters: [String: JSONValue]) throws {
        var last: Build?
        var failedOthers: [Build] = []
        var announced = false
        try GlobalOptions.callMore(socket: socket, method, parameters) { reply in
            let build = try Build(wire: reply["build"])
            if build.jobID != job, build.finished, build.state == .failed { failedOthers.append(build) }
            if !json {
                if build.jobID != job {
                    print(build.finished ? buildSummary(build) : "build \(build.id) of \(build.jobID) queued")
                } else if !announced, !build.finished {
                    announced = true
                    print("build \(build.id) of \(build.jobID) queued; waiting")
                }
            }
            last = build
        }
        try finish(last: last, failedOthers: failedOthers, json: json)
    }

    /// Prints the build's outcome; exit status 1 unless it and every dependency build succeeded.
    static func finish(last: Build?, failedOthers: [Build], json: Bool) throws {
        guard let build = last else { throw ExitCode(1) }
        if json { printJSON(WireFormat.build(build)) } else { print(buildSummary(build)) }
        if !(build.finished && build.success) || !failedOthers.isEmpty { throw ExitCode(1) }
    }

    /// Queues the build and says which it is, without waiting for it.
    static func queue(socket: String?, json: Bool, parameters: [String: JSONValue]) throws {
        let reply = try GlobalOptions.call(socket: socket, method, parameters)
        let build = try Build(wire: reply["build"])
        if json {
            printJSON(WireFormat.build(build))
        } else {
            print("build \(build.id) of \(build.jobID) queued")
        }
    }

    /// `-p NAME=VALUE` and `-p DEPENDENCY:NAME=VALUE` (values as text: the daemon converts them to
    /// each parameter's type), and `--params-json` (typed), for the job and for its dependencies.
    static func parameterValues(_ given: [String], json: String?) throws -> (
        own: [String: JSONValue], dependencies: [String: [String: JSONValue]]
    ) {
        var own: [String: JSONValue] = [:]
        var dependencies: [String: [String: JSONValue]] = [:]
        if let json {
            let parsed: JSONValue
            do {
                parsed = try JSONValue.parse(json)
            } catch {
                throw ValidationError("--params-json is not JSON: \(error)")
            }
            guard case .object(let object) = parsed else {
                throw ValidationError("--params-json takes a JSON object, as in '{\"count\": 3}'")
            }
            own = object
        }
        for item in given {
            guard let equals = item.firstIndex(of: "="), equals != item.startIndex else {
                throw ValidationError("-p takes NAME=VALUE (or DEPENDENCY:NAME=VALUE), found '\(item)'")
            }
            let key = item[..<equals]
            let value = JSONValue.string(String(item[item.index(after: equals)...]))
            if let colon = key.lastIndex(of: ":") {
                dependencies[String(key[..<colon]), default: [:]][String(key[key.index(after: colon)...])] = value
            } else {
                own[String(key)] = value
            }
        }
        return (own, dependencies)
    }
}
