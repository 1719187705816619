import Testing

/// Suites that must not overlap: the fault tests measure answer times under load (a Status call
/// within 1 s while 40 clients send 7 MB requests), and the suites nested here beside them load
/// both cores for seconds on their own (a 50 MB log line, a fork bomb, pip installing into a
/// virtual environment, a browser). Nested in one serialized suite, they run one after another;
/// every other suite still runs in parallel with them. Their chain is the suite's longest path
/// (about five minutes of the CI run): what need not be here is not.
@Suite(.serialized) enum ExclusiveTests {}
