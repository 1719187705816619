import Foundation
import Testing

@testable import JobControl
@testable import JobControlSchedule

/// `parameters:`: declaring them, checking values from a run, a schedule or a default, and the
/// configuration errors a typo gets.
@Suite struct ParameterTests {
    static let job = """
        secret: {deploy_key: k3y}
        jobs:
          - id: deploy
            command: 'echo "$1 $JOBCONTROL_PARAM_TARGET"'
            args: [!param target]
            environment: {COUNT: !param count}
            parameters:
              target: {type: choice, choices: [staging, production], default: staging, description: Where to}
              count: {type: integer, required: true}
              dry_run: {type: boolean, default: false}
              note: string
              key: {type: string, secret: true, default: !secret deploy_key}
              token: {type: string, secret: true}
            schedule:
              - {calendar: '*-*-* 02:00:00 UTC', parameters: {target: production, count: 1}}
              - {calendar: '*-*-* 03:00:00 UTC', parameters: {count: 2, token: !secret deploy_key}}
        """

    func errors(_ yaml: String) -> [String] { configErrors(yaml) }

    @Test func declaredParametersLoadInOrderWithTheirTypes() throws {
        let config = try ConfigLoader.parse(yaml: Self.job, file: "test.yaml")
        let job = try #require(config.job("deploy"))
        #expect(job.parameters.map(\.name) == ["target", "count", "dry_run", "note", "key", "token"])
        #expect(job.parameters[0].kind == .choice(["staging", "production"]))
        #expect(job.parameters[1].required)
        #expect(job.parameters[3].kind == .string)
        #expect(job.paramReferences.sorted() == ["count", "target"])
        #expect(job.secretReferences.contains("deploy_key"))
        // Shown and stored masked: a secret default as its reference, a secret value as ***.
        let stored = job.storedJSON
        guard case .array(let declared)? = stored["parameters"], case .array(let given)? = stored["schedule_parameters"]
        else {
            Issue.record("parameters missing from the stored job: \(stored.jsonText())")
            return
        }
        #expect(declared[4]["default"] == ["!secret": "deploy_key"])
        #expect(given[1]["token"] == ["!secret": "deploy_key"])
        #expect(!stored.jsonText().contains("k3y"))
    }

    @Test func runValuesAreCheckedAndTypedOverDefaults() throws {
        let job = try #require(try ConfigLoader.parse(yaml: Self.job, file: "test.yaml").job("deploy"))
        let bound = try job.bindParameters(given: ["count": "3", "dry_run": "yes", "token": "t0k"])
        #expect(bound.stored["count"] == .int(3))
        #expect(bound.stored["dry_run"] == .bool(true))
        #expect(bound.stored["target"] == "staging", "the default")
        #expect(bound.stored["note"] == nil, "no value, no default: absent")
        #expect(bound.stored["token"] == "***")
        #expect(bound.stored["key"] == ["!secret": "deploy_key"])
        #expect(bound.secretValues == ["token": "t0k"])
        // Typed JSON is taken as it is.
        #expect(try job.bindParameters(given: ["count": .int(7)]).stored["count"] == .int(7))
        // And at run time the values come back typed, the secret ones resolved.
        let values = try job.parameterValues(
            stored: bound.stored, memory: bound.secretValues, secrets: ["deploy_key": "k3y"])
        #expect(values["key"] == "k3y" && values["token"] == "t0k" && values["count"] == .int(3))
        #expect(throws: BuildException.self) {
            try job.parameterValues(stored: bound.stored, memory: [:], secrets: ["deploy_key": "k3y"])
        }
    }

    @Test func badValuesAreRefusedWithTheReason() throws {
        let job = try #require(try ConfigLoader.parse(yaml: Self.job, file: "test.yaml").job("deploy"))
        func refusal(_ given: [String: JSONValue]) -> String {
            do {
                _ = try job.bindParameters(given: given)
                return "accepted"
            } catch {
                return error.description
            }
        }
        #expect(refusal([:]).contains("needs a value for 'count'"))
        #expect(refusal(["count": "three"]) == "parameter 'count': expected an integer, found 'three'")
        #expect(refusal(["count": "1", "target": "prod"]).contains("'prod' is not one of staging, production"))
        #expect(refusal(["count": "1", "dry_run": "maybe"]).contains("expected true or false"))
        #expect(refusal(["count": "1", "dry_run": .array([])]).contains("expected a boolean, found a list"))
        #expect(refusal(["count": "1", "tagret": "x"]).contains("has no parameter 'tagret'; it declares: target"))
        #expect(
            refusal(["count": "1", "token": .array([])]) == "parameter 'token': expected a string, found a list")
        let secretNumber = try #require(
            try ConfigLoader.parse(
                yaml: "jobs:\n  - {id: s, command: x, parameters: {p: {type: integer, secret: true}}}\n", file: "t.yaml"
            ).job("s"))
        #expect(throws: ParameterError.invalid("p", "expected an integer, found a value (secret, not shown)")) {
            try secretNumber.bindParameters(given: ["p": "hunter2"])
        }
    }

    @Test func aScheduleGivesItsOwnValues() throws {
        let job = try #require(try ConfigLoader.parse(yaml: Self.job, file: "test.yaml").job("deploy"))
        let policy = try #require(job.schedule)
        let day = try ScheduleTime.parse("2026-03-01 00:00:00", zone: .utc)
        let two = try #require(policy.next(after: day))
        let three = try #require(policy.next(after: two))
        #expect(policy.parameters(at: two) == ["target": .string("production"), "count": .int(1)])
        #expect(policy.parameters(at: three) == ["count": .int(2), "token": .secret("deploy_key")])
        let bound = try job.bindParameters(given: [:], schedule: policy.parameters(at: three))
        #expect(bound.stored["count"] == .int(2) && bound.stored["target"] == "staging")
        #expect(bound.stored["token"] == ["!secret": "deploy_key"] && bound.secretValues.isEmpty)
        // A run's own value wins over the schedule's.
        #expect(
            try job.bindParameters(given: ["count": "9"], schedule: policy.parameters(at: two)).stored["count"]
                == .int(9))
    }

    @Test func configurationMistakesNameTheLine() {
        let base = "jobs:\n  - id: j\n    command: 'true'\n"
        #expect(
            errors(base + "    args: [!param nope]\n").contains {
                $0.contains("test.yaml:2:") && $0.contains("uses !param nope, but its 'parameters' do not declare")
            })
        #expect(
            errors(base + "    parameters: {n: {type: integer, default: ten}}\n").contains {
                $0.hasPrefix("test.yaml:4:") && $0.contains("parameter 'n': expected an integer, found 'ten'")
            })
        #expect(
            errors(base + "    parameters: {n: {type: integer, required: true, default: 1}}\n").contains {
                $0.contains("is required, so a default would never be used")
            })
        #expect(errors(base + "    parameters: {c: choice}\n").contains { $0.contains("list them in 'choices'") })
        #expect(
            errors(base + "    parameters: {c: {type: choice, choices: [a], default: b}}\n").contains {
                $0.contains("'b' is not one of a")
            })
        #expect(
            errors(base + "    parameters: {n: {type: float}}\n").contains {
                $0.contains("type must be string, integer, boolean or choice")
            })
        #expect(errors(base + "    parameters: {2n: string}\n").contains { $0.contains("parameter name '2n'") })
        #expect(
            errors(base + "    parameters: {n: {type: string, secret: true, default: hunter2}}\n").contains {
                $0.contains("takes its value here as !secret NAME")
            })
        #expect(
            errors(base + "    parameters: {b: {type: boolean, secret: true}}\n").contains {
                $0.contains("'secret' applies to string and integer parameters")
            })
        #expect(
            errors(base + "    parameters: {ab: string, AB: string}\n").contains {
                $0.contains("would be $JOBCONTROL_PARAM_AB, as 'ab' is")
            })
        #expect(
            errors(base + "    parameters: {n: {type: string, requird: true}}\n").contains {
                $0.contains("requird") && $0.contains("required")
            })
        #expect(
            errors(
                "secret: {s: x}\n" + base + "    parameters: {n: {type: string, default: !secret s}}\n"
            ).contains { $0.contains("takes !secret only with 'secret: true'") })
        #expect(
            errors(
                base + "    parameters: {n: integer}\n    schedule: [{every: 1h, parameters: {n: x, m: 1}}]\n"
            ).contains { $0.contains("parameter 'n': expected an integer, found 'x'") })
        #expect(
            errors(base + "    parameters: {n: integer}\n    schedule: [{every: 1h, parameters: {m: 1}}]\n").contains {
                $0.contains("has no parameter 'm'; it declares: n")
            })
        #expect(
            errors(base + "    parameters: {n: {type: integer, required: true}}\n    schedule: ['@daily']\n").contains {
                $0.hasPrefix("test.yaml:5:") && $0.contains("gives no value for the required parameter 'n'")
            })
    }
}

@Suite struct SwiftFunctionParameterTests {
    @Test func aSwiftFunctionGetsItsParametersTyped() async throws {
        var registry = FunctionRegistry.builtins
        registry.register("reports:typed") { context, args, _ in
            [
                "count": .int((context.integerParameter("count") ?? 0) * 2),
                "verbose": .bool(!(context.booleanParameter("verbose") ?? true)),
                "mode": .string(context.stringParameter("mode") ?? "?"), "arg": args.first ?? .null,
            ]
        }
        let engine = try testEngine(
            """
            jobs:
              - id: typed
                function: 'reports:typed'
                args: [!param count]
                parameters: {count: integer, verbose: boolean, mode: {type: choice, choices: [fast, slow], default: slow}}
            """, registry: registry)
        let build = try await engine.run(jobID: "typed", parameters: ["count": "21", "verbose": "true"])
        let finished = try await engine.waitUntilFinished(build.id)
        #expect(finished.retval == ["count": .int(42), "verbose": .bool(false), "mode": "slow", "arg": .int(21)])
    }
}
