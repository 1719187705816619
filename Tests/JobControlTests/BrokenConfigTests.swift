import Testing

@testable import JobControl

/// Broken configurations, each with the place and words its error must have. The place is where
/// an editor should put the cursor: the offending key or value, or the job for graph errors.
@Suite struct BrokenConfigTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let yaml: String
        /// `line:column: start of the message`
        let expected: String
        var testDescription: String { expected }
    }

    static let cases: [Case] = [
        // YAML syntax
        // An unclosed bracket is shown where it opens.
        Case(yaml: "jobs:\n  - id: a\n    command: [x\n", expected: "3:14: YAML syntax error"),
        Case(yaml: "jobs:\n  - id: a\n   command: x\n", expected: "3:4: YAML syntax error"),
        Case(yaml: "workers: 2\nworkers: 3\n", expected: "2:1: YAML syntax error: duplicate key 'workers'"),
        Case(yaml: "- just\n- a list\n", expected: "1:1: the configuration file must be a mapping"),
        // types
        Case(yaml: "workers: two\n", expected: "1:10: 'workers' must be an integer, found a string"),
        Case(yaml: "workers: 0\n", expected: "1:10: 'workers' must be at least 1"),
        Case(yaml: "storage: [a]\n", expected: "1:10: 'storage' must be a string, found a list"),
        Case(yaml: "storage: mysql://x\n", expected: "1:10: unsupported storage URL"),
        Case(yaml: "socket: /\(String(repeating: "s", count: 120))\n", expected: "1:9: socket path is 121 bytes"),
        Case(yaml: "socket: run/j.sock\n", expected: "1:9: 'socket' must be an absolute path"),
        Case(yaml: "jobs: {a: 1}\n", expected: "1:7: 'jobs' must be a list of jobs"),
        // A tag where the field takes none: named, not "must be a string, found a string".
        Case(
            yaml: "secret: {tok: x}\njobs:\n  - id: a\n    command: !secret tok\n",
            expected: "4:14: 'command' must be a string, found a value tagged !secret, which this field does not take"),
        Case(
            yaml: "workers: !foo 2\n",
            expected: "1:10: 'workers' must be an integer, found a value tagged !foo, which this field does not take"),
        Case(
            yaml: "jobs:\n  - {id: a, command: x, timeout: !foo 5s}\n",
            expected: "2:34: 'timeout' must be a duration"),
        Case(yaml: "jobs:\n  - id: a\n    command: {x: 1}\n", expected: "3:14: 'command' must be a string"),
        Case(yaml: "jobs:\n  - id: a\n    command: []\n", expected: "3:14: 'command' must not be an empty list"),
        Case(yaml: "jobs:\n  - id: a\n    command: x\n    args: {k: v}\n", expected: "4:11: 'args' must be a list"),
        Case(yaml: "jobs:\n  - id: a\n    command: x\n    kwargs: [1]\n", expected: "4:13: 'kwargs' must be a mapping"),
        Case(
            yaml: "jobs:\n  - id: a\n    command: x\n    dependencies: b\n",
            expected: "4:19: 'dependencies' must be a list of strings"),
        Case(yaml: "jobs:\n  - id: a b\n    command: x\n", expected: "2:9: job id 'a b' may contain only"),
        Case(
            yaml: "jobs:\n  - id: \"..\"\n    command: x\n",
            expected:
                "2:9: job id '..' may contain only letters, digits, '_', '-' and '.', must not be only dots, and must not start with '-'"
        ),
        Case(yaml: "jobs:\n  - id: \"-dash\"\n    command: x\n", expected: "2:9: job id '-dash' may contain only"),
        Case(yaml: "log_retention: {debug: soon}\n", expected: "1:24: 'log_retention.debug' must be a duration"),
        Case(yaml: "build_retention: {keep_last: 0}\n", expected: "1:30: 'keep_last' must be at least 1"),
        // unknown keys, with suggestions
        Case(
            yaml: "worker: 2\n",
            expected: "1:1: unknown key 'worker' in the configuration file; did you mean 'workers'?"),
        Case(
            yaml: "jobs:\n  - id: a\n    comand: x\n",
            expected: "3:5: unknown key 'comand' in a job; did you mean 'command'?"),
        Case(
            yaml: "jobs:\n  - id: a\n    command: x\n    dependancies: [b]\n",
            expected: "4:5: unknown key 'dependancies' in a job; did you mean 'dependencies'?"),
        Case(
            yaml: "log_retention: {debgu: 1d}\n",
            expected: "1:17: unknown key 'debgu' in 'log_retention'; did you mean 'debug'?"),
        // jobs and the graph
        Case(yaml: "jobs:\n  - title: no id\n    command: x\n", expected: "2:5: a job needs an 'id'"),
        Case(yaml: "jobs:\n  - id: a\n", expected: "2:5: job 'a' needs a 'command' or a 'function'"),
        Case(
            yaml: "jobs:\n  - id: a\n    command: x\n    function: m:f\n",
            expected: "4:15: job 'a' has both 'command' and 'function'"),
        Case(
            yaml: "jobs:\n  - id: a\n    function: nocolon\n",
            expected: "3:15: 'function' must be in module:function form"),
        Case(
            yaml: "jobs:\n  - id: a\n    function: jobcontrol:func\n",
            expected: "3:15: function 'jobcontrol:func' is not registered"),
        Case(
            yaml: "jobs:\n  - {id: a, command: x}\n  - {id: a, command: y}\n",
            expected: "3:5: duplicate job id 'a' (first defined at t.yaml:2:5)"),
        Case(
            yaml: "jobs:\n  - {id: a, command: x, dependencies: [ghost]}\n",
            expected: "2:5: job 'a' depends on unknown job 'ghost'"),
        Case(
            yaml: "jobs:\n  - {id: a, command: x, dependencies: [b]}\n  - {id: b, command: x, dependencies: [a]}\n",
            expected: "3:5: dependency cycle: a -> b -> a"),
        Case(
            yaml: "jobs:\n  - {id: a, command: x}\n  - {id: b, command: x, args: [!retval a]}\n",
            expected: "3:5: job 'b' uses '!retval a' but 'a' is not one of its dependencies"),
        Case(yaml: "jobs:\n  - {id: a, command: x, args: [!oops 1]}\n", expected: "2:32: unknown tag '!oops'"),
        Case(yaml: "jobs:\n  - {id: a, command: x, args: [!retval '']}\n", expected: "2:32: !retval needs a name"),
        // secrets and execution keys
        Case(
            yaml: "jobs:\n  - {id: a, command: x, args: [!secret nope]}\n",
            expected: "2:5: job 'a' uses '!secret nope' but no secret 'nope' is defined"),
        Case(yaml: "secret: {k: [1]}\n", expected: "1:13: secret 'k' must be a string"),
        Case(
            yaml: "secrets_file: /nonexistent/secrets.yaml\n",
            expected: "1:15: cannot read secrets file /nonexistent/secrets.yaml"),
        Case(
            yaml: "jobs:\n  - {id: a, command: x, working_directory: tmp}\n",
            expected: "2:44: 'working_directory' must be an absolute path"),
        Case(
            yaml: "jobs:\n  - {id: a, command: x, user: nosuchuserxyz}\n",
            expected: "2:31: user 'nosuchuserxyz' does not exist"),
        Case(yaml: "jobs:\n  - {id: a, command: x, enabled: 1}\n", expected: "2:34: 'enabled' must be true or false"),
        Case(
            yaml: "jobs:\n  - {id: a, command: x, environment: {9X: y}}\n",
            expected: "2:39: environment variable name '9X'"),
        // schedules
        Case(
            yaml: "jobs:\n  - {id: a, command: x, schedule: 'Mon 25:00'}\n",
            expected: "2:35: invalid calendar expression 'Mon 25:00': a value is out of range"),
        Case(
            yaml: "jobs:\n  - {id: a, command: x, schedule: 'Mon..Fri 9:00 Mars/Olympus'}\n",
            expected: "2:35: invalid calendar expression"),
        Case(
            yaml: "jobs:\n  - {id: a, command: x, schedule: '61 * * * *'}\n",
            expected: "2:35: invalid cron expression '61 * * * *': minute field '61': 61 is outside 0-59"),
        Case(
            yaml: "jobs:\n  - {id: a, command: x, schedule: '0 0 * * * *'}\n",
            expected: "2:35: invalid calendar expression"),
        Case(
            yaml: "jobs:\n  - {id: a, command: x, schedule: {every: soon}}\n", expected: "2:43: invalid interval 'soon'"
        ),
        Case(
            yaml: "jobs:\n  - {id: a, command: x, schedule: '*:*:0/0.000001'}\n",
            expected: "2:35: '*-*-* *:*:00/0.000001' elapses more than once a second"),
        Case(
            yaml: "jobs:\n  - {id: a, command: x, schedule: {calendar: '*:*:00.1,00.5'}}\n",
            expected: "2:46: '*-*-* *:*:00.100000,00.500000' elapses more than once a second"),
        Case(
            yaml: "jobs:\n  - {id: a, command: x, schedule: 'every soon'}\n", expected: "2:35: invalid interval 'soon'"
        ),
        Case(
            yaml: "jobs:\n  - {id: a, command: x, schedule: {evry: 5m}}\n",
            expected: "2:36: unknown key 'evry' in a schedule; did you mean 'every'?"),
        Case(
            yaml: "jobs:\n  - id: a\n    command: x\n    schedule: [daily, '*-*-* 9']\n",
            expected: "4:23: invalid calendar expression '*-*-* 9': expected ':' after the hour"),
        Case(
            yaml: "jobs:\n  - {id: a, command: x, schedule: daily, timezone: Europe/Berln}\n",
            expected: "2:52: unknown time zone 'Europe/Berln'"),
        Case(
            yaml: "jobs:\n  - {id: a, command: x, persistent: true}\n",
            expected: "2:25: 'persistent' needs a 'schedule' in the same job"),
        Case(
            yaml: "jobs:\n  - {id: a, command: x, schedule: daily, concurrency: never}\n",
            expected: "2:55: 'concurrency' must be one of allow, forbid, replace, queue, found 'never'"),
        Case(
            yaml: "jobs:\n  - {id: a, command: x, schedule: daily, catch_up: all}\n",
            expected: "2:42: 'catch_up' applies only to a job with 'persistent: true'"),
        Case(
            yaml: "jobs:\n  - {id: a, command: x, schedule: daily, randomized_delay: lots}\n",
            expected: "2:60: 'randomized_delay' must be a duration"),
        Case(
            yaml: "jobs:\n  - {id: a, command: x, schedule: daily, start_deadline: 0s}\n",
            expected: "2:58: 'start_deadline' must be longer than 0s"),
        // cluster
        Case(
            yaml: "cluster: {node: 'web 1'}\n",
            expected: "1:17: 'cluster.node' must be 1 to 64 letters, digits, '.', '_', '-', '@' or ':'; got 'web 1'"),
        Case(yaml: "cluster: {lease: 0s}\n", expected: "1:18: 'cluster.lease' must be between 1s and 1h; got 0s"),
        Case(
            yaml: "cluster: {leese: 30s}\n", expected: "1:11: unknown key 'leese' in 'cluster'; did you mean 'lease'?"),
        Case(yaml: "cluster: web-1\n", expected: "1:10: 'cluster' must be a mapping"),
        // access
        Case(
            yaml: "access: {read: [admin]}\n",
            expected: "1:17: 'admin' in 'access.read' must be user:NAME, group:NAME or '*'"),
        Case(yaml: "access: {run: [user:nosuchuserxyz]}\n", expected: "1:16: user 'nosuchuserxyz' does not exist"),
        Case(
            yaml: "access: {admin: [group:nosuchgroupxyz]}\n", expected: "1:18: group 'nosuchgroupxyz' does not exist"),
        Case(
            yaml: "access: {raed: [user:root]}\n",
            expected: "1:10: unknown key 'raed' in 'access'; did you mean 'read'?"),
        Case(yaml: "access: {read: user:root}\n", expected: "1:16: 'access.read' must be a list"),
        // pools and timeouts
        Case(
            yaml: "pools: {db: {workers: 1}}\njobs:\n  - {id: a, command: x, pool: dbb}\n",
            expected: "3:31: job 'a' uses pool 'dbb', which is not defined under 'pools' (defined: db)"),
        Case(yaml: "pools: {db: {workers: 0}}\n", expected: "1:23: 'workers' of pool 'db' must be at least 1"),
        Case(yaml: "pools: {\"\": {workers: 1}}\n", expected: "1:9: a pool needs a name"),
        Case(yaml: "jobs:\n  - {id: a, command: x, timeout: 0s}\n", expected: "2:34: 'timeout' must be longer than 0s"),
        // a parameter with a wrong default is still declared: its schedules' values are not
        // reported as naming no parameter
        Case(
            yaml:
                "jobs:\n  - id: j\n    command: x\n    parameters: {a: {type: integer, default: 1x}}\n    schedule: {cron: '0 3 * * *', parameters: {a: 5}}\n",
            expected: "4:46: parameter 'a': expected an integer"),
    ]

    @Test(arguments: cases) func errorNamesTheRightPlace(_ broken: Case) {
        do {
            _ = try ConfigLoader.parse(yaml: broken.yaml, file: "t.yaml")
            Issue.record("no error for:\n\(broken.yaml)")
        } catch {
            // The one error, at its place: no extra wrong diagnostics beside it.
            let found = error.diagnostics.map(\.description)
            #expect(found.count == 1 && found[0].hasPrefix("t.yaml:" + broken.expected), "got \(found)")
        }
    }
}
