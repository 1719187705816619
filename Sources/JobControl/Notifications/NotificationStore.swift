import Dispatch
import FoundationEssentials
import Glibc

/// The outbox: notifications written with the state change that caused them, claimed by one
/// daemon at a time for delivery, with every attempt recorded.
public protocol NotificationStore: Sendable {
    /// Decides `trigger` against its job's alert state (``NotificationPolicy``) and writes the
    /// notifications it causes, in one transaction. Returns their ids.
    func recordNotifications(_ trigger: NotificationTrigger) throws(StorageError) -> [Int64]

    /// Writes one notification for `channel` (a test event, a re-send).
    func addNotification(_ draft: NotificationDraft, now: Date) throws(StorageError) -> Int64

    /// Claims up to `limit` notifications due at `now` (pending ones whose next attempt is due,
    /// and ones whose claim by a daemon expired) for `node` until `now + lease`: each is marked
    /// `sending`, its attempt count raised, and the attempt recorded as running. In a cluster
    /// each notification is claimed by one daemon.
    func claimNotifications(node: String, now: Date, lease: TimeInterval, limit: Int) throws(StorageError)
        -> [NotificationRecord]

    /// Records how attempt `number` of notification `id` ended: delivered; or failed, to be tried
    /// again at `retryAt` (nil: given up). False when the claim had expired and another daemon
    /// took the notification over (the attempt is recorded all the same).
    @discardableResult
    func finishNotificationAttempt(
        id: Int64, number: Int, node: String, delivered: Bool, detail: String?, retryAt: Date?, now: Date
    ) throws(StorageError) -> Bool

    /// At start: `node`'s claims from before (the daemon died or stopped during an attempt) are
    /// released for a new attempt now, and their running attempts recorded as interrupted.
    /// Returns how many.
    func releaseNotifications(node: String, now: Date) throws(StorageError) -> Int

    /// Notifications newest first, of a job and in a state when given.
    func listNotifications(jobID: String?, state: NotificationState?, limit: Int) throws(StorageError)
        -> [NotificationRecord]

    /// One notification with its attempts, oldest first.
    func notification(_ id: Int64) throws(StorageError) -> (NotificationRecord, [NotificationAttempt])?

    /// Makes a delivered or failed notification pending again, due now; false when it does not
    /// exist or is being sent.
    func resendNotification(_ id: Int64, now: Date) throws(StorageError) -> Bool

    /// When the earliest pending notification is due (or a claim expires), if any.
    func nextNotificationDue() throws(StorageError) -> Date?

    /// Deletes delivered and failed notifications created before `before`, with their attempts.
    func pruneNotifications(before: Date) throws(StorageError) -> Int
}
