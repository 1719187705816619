import Synchronization

/// The one stop of a build's processes (``CommandFunction/stopLeftovers(cgroup:processGroup:buildID:)``),
/// whoever asks first: a cancel (while the command runs, in a task of its own) or the command's
/// exit (inline: the usual case costs no task). A second asker waits for the first stop, so no
/// process gets a second SIGTERM from a second loop.
///
/// Ownership: `state` (a `Mutex`).
final class Teardown: Sendable {
    private enum State {
        case idle
        case inline
        case started(Task<Bool, Never>)
    }

    private let state = Mutex(State.idle)
    private let stop: @Sendable () async -> Bool

    init(_ stop: @escaping @Sendable () async -> Bool) {
        self.stop = stop
    }

    /// On cancel: starts the stop unless it is already under way.
    func startOnCancel() {
        state.withLock { state in
            guard case .idle = state else { return }
            let stop = self.stop
            state = .started(Task.detached { await stop() })
        }
    }

    /// After the command's exit: runs the stop, or waits for the one a cancel started. Returns
    /// whether anything was left.
    func run() async -> Bool {
        let started: Task<Bool, Never>? = state.withLock { state in
            switch state {
            case .idle:
                state = .inline
                return nil
            case .inline: return nil
            case .started(let task): return task
            }
        }
        if let started { return await started.value }
        return await stop()
    }
}
