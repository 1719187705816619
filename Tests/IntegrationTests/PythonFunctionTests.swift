import Foundation
import JobControl
import Testing

extension ExclusiveTests {
    /// Python job functions against the real daemon (issue 23): the fixture package
    /// `PythonJobs/jobpkg` runs through `python -m jobcontrol._runner`; what it reports is checked
    /// against the storage, and its tracebacks against Python's own `traceback` module.
    @Suite(.serialized) struct PythonFunctionTests {
        static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "PythonJobs"
        ).path

        /// The shipped `jobcontrol` module (python/ at the top of the repository).
        static let module = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("python").path

        static var config: String {
            """
            python_path: [\(fixtures)]
            jobs:
              - {id: produce, function: 'jobpkg.tasks:produce', args: [3], kwargs: {label: widgets}}
              - {id: consume, function: 'jobpkg.tasks:consume', dependencies: [produce], args: [!retval produce]}
              - {id: skip, function: 'jobpkg.tasks:nothing_to_do'}
              - {id: deep, function: 'jobpkg.tasks:fail_deep', args: [2]}
              - {id: chained, function: 'jobpkg.tasks:fail_chained'}
              - {id: logs-exception, function: 'jobpkg.tasks:logs_exception'}
              - {id: not-json, function: 'jobpkg.tasks:not_json'}
              - {id: exits, function: 'jobpkg.tasks:exits'}
              - {id: segfault, function: 'jobpkg.tasks:segfault'}
              - {id: no-module, function: 'jobpkg.nope:run'}
              - {id: no-callable, function: 'jobpkg.tasks:nope'}
              - {id: nested, function: 'jobpkg.tasks:Tasks.nested', args: [41]}
              - {id: forks, function: 'jobpkg.tasks:forks', timeout: 60s}
            """
        }

        /// Runs `job` to its end; returns the build.
        static func run(_ job: String, _ daemon: DaemonProcess, _ storage: any Storage) async throws -> Build {
            let result = try await daemon.jobctl("run", job, "--wait")
            #expect([0, 1].contains(result.status), "\(job): \(result.stdout) \(result.stderr)")
            let builds = try storage.getJobBuilds(jobID: job, filter: BuildFilter(), order: .descending, limit: 1)
            return try #require(builds.first)
        }

        @Test func pythonFunctionsReportProgressLogsReturnValuesSkipsAndFailures() async throws {
            let daemon = try await DaemonProcess(config: Self.config)
            let storage = try StorageFactory.open(url: "sqlite://" + daemon.database)

            // Nested progress, log records at each level with logger names and source lines, a retval.
            let produced = try await Self.run("produce", daemon, storage)
            #expect(produced.state == .successful, "\(produced.exception ?? .null)")
            #expect(produced.retval?["count"] == 3 && produced.retval?["label"] == "widgets")
            #expect(produced.retval?["build"]?.intValue == produced.id)
            let groups = try storage.getBuildProgressInfo(produced.id).map(\.group.name)
            #expect(groups.contains("produce") && groups.contains("produce::item-2"), "\(groups)")
            let logs = try storage.iterLogMessages(LogQuery(buildID: produced.id))
            let logged = logs.filter { $0.origin != nil }
            #expect(logged.map(\.level) == [10, 20, 30, 40, 50])
            #expect(
                logged.map(\.logger) == [
                    "jobpkg.tasks", "jobpkg.tasks", "jobpkg.tasks", "jobpkg.tasks", "other.logger",
                ])
            #expect(logged[1].message == "made 3 widgets")
            let source = try String(contentsOfFile: Self.fixtures + "/jobpkg/tasks.py", encoding: .utf8)
                .split(separator: "\n", omittingEmptySubsequences: false)
            for record in logged {
                let origin = try #require(record.origin)
                #expect(origin.file.hasSuffix("jobpkg/tasks.py") && origin.function == "produce")
                #expect(source[origin.line - 1].contains("log"), "line \(origin.line) is not a logging call")
            }
            #expect(logs.contains { $0.logger == "stdout" && $0.message == "printed to stdout" })

            // The return value reaches a dependent through !retval.
            let consumed = try await Self.run("consume", daemon, storage)
            #expect(consumed.retval == 6, "\(consumed.exception ?? .null)")

            let skipped = try await Self.run("skip", daemon, storage)
            #expect(skipped.state == .skipped)

            // logger.exception stores its traceback with the record.
            let handled = try await Self.run("logs-exception", daemon, storage)
            #expect(handled.retval == "handled")
            let exceptionRecord = try #require(
                try storage.iterLogMessages(LogQuery(buildID: handled.id)).first {
                    $0.message.hasPrefix("lookup failed")
                })
            #expect(exceptionRecord.level == 40 && exceptionRecord.message.contains("KeyError"))
            let recordFrames = TracebackInfo(json: try #require(exceptionRecord.exceptionTraceback)).frames
            #expect(recordFrames.last?.function == "logs_exception" && recordFrames.last?.line == "{}[\"missing\"]")

            let nested = try await Self.run("nested", daemon, storage)
            #expect(nested.retval == 42)

            // Forked workers report through connections of their own (not the parent's).
            let forked = try await Self.run("forks", daemon, storage)
            #expect(forked.retval == 6, "\(forked.exception ?? .null)")
            let workers = try storage.getBuildProgressInfo(forked.id).map(\.group.name).filter {
                $0.hasPrefix("worker-")
            }
            #expect(workers.count == 4, "\(workers)")

            // Each failure is a clear failed build.
            let failures: [(String, String, String)] = [
                ("not-json", "ReturnValueNotSerializable", "not JSON"),
                ("exits", "PythonDied", "exited with status 3"),
                ("segfault", "PythonDied", "signal 11"),
                ("no-module", "ModuleNotFoundError", "No module named 'jobpkg.nope'"),
                ("no-callable", "AttributeError", "has no attribute 'nope'"),
            ]
            for (job, type, message) in failures {
                let build = try await Self.run(job, daemon, storage)
                #expect(build.state == .failed)
                #expect(build.exception?["type"]?.stringValue == type, "\(job): \(build.exception ?? .null)")
                #expect(
                    build.exception?["message"]?.stringValue?.contains(message) == true,
                    "\(job): \(build.exception ?? .null)")
            }
            try await daemon.stop()
        }

        /// What a hostile review found: a secret Python escapes in its repr, a value set by
        /// `jobctl retval` beside `return None`, integers past 64 bits, a value too large to
        /// store, a log record over the daemon's limit, and modules planted in the working
        /// directory.
        @Test func pythonEdgesAreRecordedAsTheyHappened() async throws {
            let planted = try TemporaryDirectory()
            try planted.write("json.py", "raise SystemExit('planted json imported')\n")
            let secret = "pa'ss\"wd\\x\ttab"
            let daemon = try await DaemonProcess(
                config: """
                    python_path: [\(Self.fixtures)]
                    secret: {pw: "pa'ss\\"wd\\\\x\\ttab"}
                    jobs:
                      - {id: leaks, function: 'jobpkg.tasks:leaks_secret', args: [!secret pw]}
                      - {id: helper, function: 'jobpkg.tasks:retval_by_helper'}
                      - {id: huge, function: 'jobpkg.tasks:huge_integer'}
                      - {id: large, function: 'jobpkg.tasks:too_large'}
                      - {id: big-log, function: 'jobpkg.tasks:oversized_log'}
                      - {id: planted, function: 'jobpkg.tasks:imports_json', working_directory: \(planted.path)}
                    """,
                environment: [
                    "PATH": Binaries.directory.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "")
                ])
            let storage = try StorageFactory.open(url: "sqlite://" + daemon.database)

            let leaks = try await Self.run("leaks", daemon, storage)
            let stored =
                [
                    leaks.exception?.jsonText() ?? "", leaks.exceptionTraceback?.jsonText() ?? "",
                ] + (try storage.iterLogMessages(LogQuery(buildID: leaks.id)).map(\.message))
            let python = #"pa\'ss"wd\\x\ttab"#
            for text in stored {
                #expect(!text.contains(secret) && !text.contains(python), "a secret's escaped form was stored: \(text)")
            }
            #expect(stored.joined().contains("***"))

            let helper = try await Self.run("helper", daemon, storage)
            #expect(helper.retval == "from-helper", "\(helper.exception ?? .null)")

            let huge = try await Self.run("huge", daemon, storage)
            #expect(huge.exception?["type"] == "ReturnValueNotSerializable", "\(huge.retval ?? .null)")
            #expect(huge.exception?["message"]?.stringValue?.contains("past 64 bits") == true)

            let large = try await Self.run("large", daemon, storage)
            #expect(large.exception?["type"] == "ReturnValueTooLarge", "\(large.exception ?? .null)")
            #expect(try await daemon.jobctl("builds").status == 0)

            let bigLog = try await Self.run("big-log", daemon, storage)
            #expect(bigLog.retval == "went on", "\(bigLog.exception ?? .null)")
            #expect(
                try storage.iterLogMessages(LogQuery(buildID: bigLog.id)).contains { $0.message == "small after big" })

            let plantedRun = try await Self.run("planted", daemon, storage)
            #expect(plantedRun.retval == "[1]", "\(plantedRun.exception ?? .null)")
            try await daemon.stop()
        }

        /// The stored traceback of an exception names the files, lines, code and functions that
        /// Python's own `traceback` module reports for the same call, with the locals as reprs.
        @Test func tracebacksMatchPythonsOwn() async throws {
            let daemon = try await DaemonProcess(config: Self.config)
            let storage = try StorageFactory.open(url: "sqlite://" + daemon.database)
            let build = try await Self.run("deep", daemon, storage)
            #expect(build.exception?["type"] == "ValueError")
            let frames = TracebackInfo(json: try #require(build.exceptionTraceback)).frames

            let oracle = try await runProcess(
                "/usr/bin/env",
                [
                    "python3", "-c",
                    """
                    import json, sys, traceback
                    sys.path[:0] = [sys.argv[1], sys.argv[2]]
                    from jobpkg import tasks
                    try:
                        tasks.fail_deep(2)
                    except ValueError as error:
                        frames = traceback.extract_tb(error.__traceback__)[1:]
                        print(json.dumps([[f.filename, f.lineno, f.name, f.line] for f in frames]))
                    """,
                    Self.fixtures, Self.module,
                ])
            guard case .array(let expected)? = try? JSONValue.parse(oracle.stdout) else {
                Issue.record("oracle: \(oracle.stdout) \(oracle.stderr)")
                return
            }
            #expect(frames.count == expected.count)
            for (frame, reference) in zip(frames, expected) {
                guard case .array(let fields) = reference, fields.count == 4 else { continue }
                #expect(frame.filename == fields[0].stringValue)
                #expect(frame.lineNumber.map(Int64.init) == fields[1].intValue)
                #expect(frame.function == fields[2].stringValue)
                #expect(frame.line == fields[3].stringValue)
                #expect(frame.context.contains { $0.trimmingCharacters(in: .whitespaces) == frame.line })
            }
            #expect(frames.map { $0.locals["depth"] } == ["2", "1", "0"])
            let big = try #require(frames.first?.locals["big_local"])
            #expect(big.count <= TracebackInfo.maxReprLength && big.hasSuffix("(cut from 5002 characters)"))

            // `raise … from` and an exception raised in an `except` block keep the exceptions
            // before them, oldest first, as Python's own TracebackException chains them.
            let chained = try await Self.run("chained", daemon, storage)
            let traceback = TracebackInfo(json: try #require(chained.exceptionTraceback))
            let chainOracle = try await runProcess(
                "/usr/bin/env",
                [
                    "python3", "-c",
                    """
                    import json, sys, traceback
                    sys.path[:0] = [sys.argv[1], sys.argv[2]]
                    from jobpkg import tasks
                    try:
                        tasks.fail_chained()
                    except ValueError as error:
                        chain, current = [], traceback.TracebackException.from_exception(error)
                        while True:
                            earlier = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
                            if earlier is None:
                                break
                            relation = "cause" if current.__cause__ else "context"
                            chain.insert(0, [earlier.exc_type.__qualname__, str(earlier), relation,
                                             [[f.filename, f.lineno, f.name] for f in earlier.stack]])
                            current = earlier
                        print(json.dumps(chain))
                    """,
                    Self.fixtures, Self.module,
                ])
            let expectedChain = try JSONValue.parse(chainOracle.stdout)
            #expect(
                JSONValue.array(
                    traceback.chain.map { entry in
                        [
                            .string(entry.type), .string(entry.message), .string(entry.relation),
                            .array(
                                entry.frames.map {
                                    [.string($0.filename), .int(Int64($0.lineNumber ?? 0)), .string($0.function)]
                                }),
                        ]
                    }) == expectedChain, "\(chainOracle.stdout) \(chainOracle.stderr)")
            #expect(traceback.chain.count == 2)
            let shown = try await daemon.jobctl("build", "\(chained.id)")
            let order = [
                "KeyError: 'missing'", "The above exception was the direct cause of the following exception:",
                "RuntimeError: lookup failed", "During handling of the above exception, another exception occurred:",
                "ValueError: while reporting",
            ].map { shown.stdout.range(of: "\n  " + $0)?.lowerBound }
            #expect(!order.contains(nil) && order.map { $0! } == order.map { $0! }.sorted(), "\(shown.stdout)")
            #expect(shown.stdout.contains("raise RuntimeError(\"lookup failed\") from error"), "\(shown.stdout)")
            try await daemon.stop()
        }

        /// A job in a virtual environment (made here, with a package from PyPI installed into it).
        @Test func aJobRunsInItsVirtualEnvironment() async throws {
            let directory = try TemporaryDirectory()
            let venv = directory.file("venv")
            let made = try await runProcess("/usr/bin/env", ["python3", "-m", "venv", venv], timeout: .seconds(120))
            #expect(made.status == 0, "\(made.stderr)")
            let installed = try await runProcess(
                venv + "/bin/python", ["-m", "pip", "install", "-q", "--disable-pip-version-check", "six==1.16.0"],
                timeout: .seconds(180))
            #expect(installed.status == 0, "pip install six: \(installed.stderr)")
            let daemon = try await DaemonProcess(
                config: """
                    python_path: [\(Self.fixtures)]
                    jobs:
                      - {id: in-venv, function: 'jobpkg.tasks:uses_venv_package', python: \(venv)}
                      - {id: system, function: 'jobpkg.tasks:uses_venv_package', python: /usr/bin/python3}
                    """)
            let storage = try StorageFactory.open(url: "sqlite://" + daemon.database)
            let inVenv = try await Self.run("in-venv", daemon, storage)
            #expect(inVenv.retval == "1.16.0", "\(inVenv.exception ?? .null)")
            let shown = try await daemon.jobctl("show", "in-venv")
            #expect(
                shown.stdout.contains("Python jobpkg.tasks:uses_venv_package in \(venv)/bin/python"), "\(shown.stdout)")
            try await daemon.stop()
        }

        /// A Python cleanup function gets the deleted build's record.
        @Test func aPythonCleanupFunctionRunsWhenABuildIsDeleted() async throws {
            let side = try TemporaryDirectory()
            let marker = side.file("cleaned")
            let daemon = try await DaemonProcess(
                config: """
                    python_path: [\(Self.fixtures)]
                    jobs:
                      - id: cleaned
                        function: 'jobpkg.tasks:accepts'
                        kwargs: {marker: \(marker)}
                        cleanup_function: 'jobpkg.tasks:cleanup'
                    """)
            #expect(try await daemon.jobctl("run", "cleaned", "--wait").status == 0)
            let deleted = try await daemon.jobctl("delete", "1")
            #expect(deleted.status == 0, "\(deleted.stderr)")
            #expect((try? String(contentsOfFile: marker, encoding: .utf8)) == "1")
            try await daemon.stop()
        }

        /// check-config imports each Python function in a child interpreter and reports, at the
        /// `function:` key, what cannot be loaded.
        @Test func checkConfigImportsPythonFunctions() async throws {
            let directory = try TemporaryDirectory()
            try directory.write(
                "jobcontrol.yaml",
                """
                python_path: [\(Self.fixtures)]
                jobs:
                  - id: fine
                    function: 'jobpkg.tasks:produce'
                  - id: missing
                    function: 'jobpkg.nope:run'
                  - id: absent
                    function: 'jobpkg.tasks:nope'
                """)
            let result = try await runProcess(Binaries.jobctl, ["check-config", directory.file("jobcontrol.yaml")])
            #expect(result.status == 78)
            #expect(
                result.stdout.contains("jobcontrol.yaml:6:15: job 'missing': function cannot import jobpkg.nope"),
                "\(result.stdout)")
            #expect(
                result.stdout.contains("jobcontrol.yaml:8:15: job 'absent': function jobpkg.tasks has no nope"),
                "\(result.stdout)")
            #expect(!result.stdout.contains("'fine'"))
        }
    }
}
