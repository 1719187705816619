import JobControlProtocol
import NIOCore
import Synchronization

/// An accepted connection not yet served: whoever takes it must end it through
/// `executeThenClose` (which finishes its writer and closes its channel).
///
/// An `NIOAsyncChannel` whose writer is dropped unfinished stops the process (a
/// `preconditionFailure`, in release builds too), and an accepted connection can be dropped by
/// machinery we do not own: the listener's stream holding connections when it closes, an
/// accept path that fails after our initializer ran. Dropped untaken, this closes the
/// connection properly instead.
///
/// Ownership: the connection sits in a mutex until ``take()`` moves it out, once.
final class PendingConnection: Sendable {
    typealias Connection = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    private let connection: Mutex<Connection?>

    init(_ connection: Connection) {
        self.connection = Mutex(connection)
    }

    /// The connection, the first time; nil after.
    func take() -> Connection? {
        connection.withLock { $0.take() }
    }

    deinit {
        if let connection = take() {
            Task { await connection.closeUnserved() }
        }
    }
}

extension NIOAsyncChannel where Inbound == ByteBuffer, Outbound == ByteBuffer {
    /// Closes a connection that will not be served (over a limit, or dropped before serving),
    /// first writing `reply` when given: the client reads why instead of a bare hang-up, which
    /// jobctl could only take for a daemon gone.
    func closeUnserved(saying reply: VarlinkReply? = nil) async {
        try? await executeThenClose { _, outbound in
            if let reply { try await outbound.write(reply.json.messageBuffer()) }
        }
    }
}
