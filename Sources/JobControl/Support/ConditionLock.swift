import Glibc

/// A mutex and a condition variable: `lock`, `unlock`, `wait`, `broadcast`, as Foundation's
/// `NSCondition` has them, without Foundation. For threads that block on purpose (the group
/// commit's callers and its thread); async code uses continuations instead.
///
/// `@unchecked Sendable`: the pthread objects are allocated once, never move, and are what
/// makes the sharing safe; they are destroyed in `deinit`, when no thread can hold them.
package final class ConditionLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    package init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    package func lock() { pthread_mutex_lock(mutex) }
    package func unlock() { pthread_mutex_unlock(mutex) }

    /// Releases the lock, waits for a `broadcast` (or a spurious wake-up: callers loop on their
    /// condition), and takes the lock again.
    package func wait() { pthread_cond_wait(condition, mutex) }

    /// Wakes every waiting thread.
    package func broadcast() { pthread_cond_broadcast(condition) }

    /// Wakes one waiting thread.
    package func signal() { pthread_cond_signal(condition) }
}
