import Synchronization

/// How much log a build has stored against its `log_limit`; past it, output is counted, not
/// stored, and one record at the end says how much was dropped.
///
/// Ownership: the counters are behind a `Mutex`; the stdout and stderr readers of the build and
/// its in-build `jobctl log` calls share one budget.
public final class LogBudget: Sendable {
    private struct Counters {
        var storedBytes: UInt64 = 0
        var droppedBytes: UInt64 = 0
        var droppedRecords = 0
        var reported = false
    }

    private let counters = Mutex(Counters())

    public init() {}

    /// Takes the records that fit under `limit` (by message bytes), in order; counts the rest.
    func admit(_ records: [LogRecord], limit: UInt64) -> [LogRecord] {
        counters.withLock { counters in
            var admitted: [LogRecord] = []
            admitted.reserveCapacity(records.count)
            for record in records {
                let size = UInt64(record.message.utf8.count)
                if counters.droppedRecords == 0, counters.storedBytes + size <= limit {
                    counters.storedBytes += size
                    admitted.append(record)
                } else {
                    counters.droppedBytes += size
                    counters.droppedRecords += 1
                }
            }
            return admitted
        }
    }

    /// What was dropped, once: (records, bytes), or nil if nothing was (or it was already told).
    func takeDropReport() -> (records: Int, bytes: UInt64)? {
        counters.withLock { counters in
            guard counters.droppedRecords > 0, !counters.reported else { return nil }
            counters.reported = true
            return (counters.droppedRecords, counters.droppedBytes)
        }
    }
}
