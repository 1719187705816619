import Dispatch
import JobControl
import JobControlProtocol

/// Where the reads that can take long run: a page of a build's log, a list of thousands of
/// builds (SQLite, then the records' wire form: tens of milliseconds each). One at a time, in
/// the order asked, off Swift's cooperative threads: a crowd of clients reading a long log
/// (sixty web clients, each asking for it three times over) kept both of this machine's
/// cooperative threads busy for seconds, and `jobctl status`, the scheduler and the builds
/// waited behind them. Now they wait their turn here, and the rest of the daemon runs.
///
/// Ownership: the serial queue runs one read at a time; each read owns what it is handed.
enum LongReads {
    static let queue = DispatchQueue(label: "jc-long-reads")

    /// Runs `body` on the queue and returns what it returns.
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws(VarlinkError) -> T)
        async throws(VarlinkError) -> T
    {
        try await queue.perform(body)
    }
}
