import Dispatch

extension DispatchQueue {
    /// `body` run on this queue and awaited, without holding one of the few cooperative threads
    /// while it blocks (a spawn's vfork, a long storage read). Its error is thrown as it is.
    package func perform<T: Sendable, Failure: Error>(_ body: @escaping @Sendable () throws(Failure) -> T)
        async throws(Failure) -> T
    {
        let result: Result<T, Failure> = await withCheckedContinuation { continuation in
            self.async { continuation.resume(returning: Result { () throws(Failure) -> T in try body() }) }
        }
        return try result.get()
    }
}
