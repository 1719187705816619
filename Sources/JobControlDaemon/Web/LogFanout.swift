import Dispatch
import FoundationEssentials
import Glibc
import JobControl
import JobControlProtocol
import Synchronization

/// One reader per followed build for the HTTP listener's log streams: every ``interval`` it
/// reads the records stored since its last look, once, and hands the same records to every
/// client following that build. A hundred browsers on one build's log cost the daemon one
/// storage read per interval, not a hundred (docs/web.md, "Choices").
///
/// State: the feeds by build id, behind one `Mutex`; a feed's reading task owns its cursor.
final class LogFanout: Sendable {
    enum Event: Sendable {
        /// Records stored since the last event, oldest first (encoded once for every client).
        case records([LogRecord])
        /// The build has ended and its last records have been sent.
        case finished
    }

    /// A client stream's buffer: one that falls this far behind is ended (it reconnects).
    static let backlog = 256

    let storage: any Storage
    let interval: Duration
    private struct Feed {
        var clients: [UUID: AsyncStream<Event>.Continuation] = [:]
    }
    private let feeds = Mutex<[Int64: Feed]>([:])

    init(storage: any Storage, interval: Duration = .milliseconds(500)) {
        self.storage = storage
        self.interval = interval
    }

    /// A stream of what `build` logs from now on. `after` is the last record the client has;
    /// a new feed starts there, or at the build's last stored record if that is older: the
    /// number comes from the client (`after_id`, `Last-Event-ID`), and a feed started past the
    /// end of the log would hand every client following that build nothing. A feed that was
    /// already running may have handed out records after it before this client joined, so a
    /// client reads from `after` to the end once more after subscribing, and skips records of
    /// the stream it has already sent.
    func subscribe(build: Int64, after: Int64?) -> AsyncStream<Event> {
        let (stream, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .bufferingOldest(Self.backlog))
        let client = UUID()
        let start = feeds.withLock { feeds -> Bool in
            let new = feeds[build] == nil
            feeds[build, default: Feed()].clients[client] = continuation
            return new
        }
        continuation.onTermination = { [weak self] _ in
            self?.feeds.withLock { feeds in _ = feeds[build]?.clients.removeValue(forKey: client) }
        }
        if start { Task { await self.read(build: build, after: after) } }
        return stream
    }

    /// The feed of `build`: reads, hands out, and ends when the build has ended or nobody follows.
    private func read(build: Int64, after claimed: Int64?) async {
        let stored = (try? storage.iterLogMessages(LogQuery(buildID: build, limit: 1, newestFirst: true)))?.first?.id
        let start = claimed.map { min($0, stored ?? 0) }
        var pager = LogPager(storage: storage, buildID: build, minLevel: nil, afterID: start)
        while true {
            let ended = ((try? storage.getBuild(build))??.finished) ?? true
            // One page (at most LogPager.replyBudget) per look: a long backlog goes out in
            // pieces, one after the other without waiting, never all at once.
            let page = try? pager.next()
            let records = page?.records ?? []
            let more = page?.more ?? false
            // Finished: the build has ended and its last record has been read.
            let finished = ended && !more
            let clients = feeds.withLock { feeds -> [AsyncStream<Event>.Continuation] in
                let clients = Array(feeds[build]?.clients.values ?? [:].values)
                if clients.isEmpty || finished { feeds[build] = nil }
                return clients
            }
            for client in clients {
                if !records.isEmpty, case .dropped = client.yield(.records(records)) { client.finish() }
                if finished {
                    client.yield(.finished)
                    client.finish()
                }
            }
            if clients.isEmpty || finished { return }
            if !more { try? await Task.sleep(for: interval) }
        }
    }
}
