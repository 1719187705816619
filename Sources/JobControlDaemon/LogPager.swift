import JobControl
import JobControlProtocol

/// Reads a build's log in pages that each fit one reply: at most ``replyBudget`` bytes of
/// encoded records, however long they are (a record holds at most 48 KiB of output, which
/// JSON escaping can make six times longer). Storage is read in batches sized from the records
/// seen so far, so the daemon holds a few hundred kilobytes per reader, not the whole log.
///
/// Ownership: a value owned by the one call that reads (handed to ``LongReads`` for each page).
struct LogPager: Sendable {
    /// Far under the Varlink message limit (8 MiB; the interface promises under 4 MiB). A reply
    /// a client does not read stays in the daemon until its connection is closed (the web's
    /// after 10 s), so this is what each such client costs: at 4 MiB, sixty web clients that
    /// asked for a long log and did not read it held 900 MB of the daemon's memory; at 256 KiB,
    /// under 90 MB in all. A reader pages on with `next_after_id`.
    static let replyBudget = 256 << 10
    /// Records per storage read: from few (long records: five of 48 KiB fill a reply) up to
    /// many (short ones).
    static let batchRange = 4...5000

    let storage: any Storage
    let buildID: Int64
    let minLevel: Int?
    /// The last record handed out.
    private(set) var afterID: Int64?
    /// Few at first: a new reader does not know how long the records are, and 256 records of
    /// 48 KiB (12 MB read) for a reply that takes five made paging a 50 MB line 3.5 times
    /// slower. Sized from what was read after that.
    private var batch = 8

    init(storage: any Storage, buildID: Int64, minLevel: Int?, afterID: Int64?) {
        self.storage = storage
        self.buildID = buildID
        self.minLevel = minLevel
        self.afterID = afterID
    }

    struct Page {
        var records: [LogRecord]
        /// More records are stored after these (the page was cut by count or size).
        var more: Bool
        /// The estimated size of the records in a reply.
        var bytes = 0
    }

    /// The next page: at most `count` records (if given) and the reply budget.
    mutating func next(upTo count: Int? = nil, budget: Int = LogPager.replyBudget) throws(StorageError) -> Page {
        let want = min(count ?? Int.max, batch)
        guard want > 0 else { return Page(records: [], more: false) }
        let read = try storage.iterLogMessages(
            LogQuery(buildID: buildID, minLevel: minLevel, afterID: afterID, limit: want + 1))
        var taken: [LogRecord] = []
        var size = 0
        for record in read.prefix(want) {
            let cost = Self.encodedSize(record)
            if !taken.isEmpty, size + cost > budget { break }
            taken.append(record)
            size += cost
        }
        if let last = taken.last { afterID = last.id }
        // Next time, about as many records as fit the budget at this page's average size.
        if !taken.isEmpty {
            let average = max(1, size / taken.count)
            batch = min(max(Self.replyBudget / average, Self.batchRange.lowerBound), Self.batchRange.upperBound)
        }
        // Cut short here (by the batch or the budget), not where the caller's own count ended.
        let more = read.count > taken.count && count.map { taken.count < $0 } ?? true
        return Page(records: taken, more: more, bytes: size)
    }

    /// An upper estimate of a record's size in a reply: its message as JSON escapes it, and the
    /// other fields.
    static func encodedSize(_ record: LogRecord) -> Int {
        var size =
            200 + record.logger.utf8.count + (record.origin.map { $0.file.utf8.count + $0.function.utf8.count } ?? 0)
        // A traceback (Python's logger.exception) counts as it will be sent.
        if let traceback = record.exceptionTraceback { size += traceback.jsonText().utf8.count }
        var message = record.message
        message.withUTF8 { buffer in
            for byte in buffer { size += byte < 0x20 ? 6 : (byte == 0x22 || byte == 0x5C ? 2 : 1) }
        }
        return size
    }
}
