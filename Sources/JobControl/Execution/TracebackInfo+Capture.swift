import CLinux
import Dispatch
import FoundationEssentials
import Glibc

extension TracebackInfo {
    /// The current call stack (symbol names only, as Swift offers no more at run time).
    public static func capture(dropping: Int = 1, limit: Int = 64) -> TracebackInfo {
        let symbols = callStackSymbols(limit: dropping + 1 + limit).dropFirst(dropping + 1).prefix(limit)
        return TracebackInfo(frames: symbols.map { Frame(filename: "?", function: $0) })
    }

    /// The calling thread's return addresses as glibc's `backtrace_symbols` names them (the
    /// binary and offset; what Foundation's `Thread.callStackSymbols` gave on Linux).
    static func callStackSymbols(limit: Int) -> [String] {
        var addresses = [UnsafeMutableRawPointer?](repeating: nil, count: limit)
        let count = backtrace(&addresses, Int32(limit))
        guard count > 0, let names = backtrace_symbols(&addresses, count) else { return [] }
        defer { free(names) }
        return (0..<Int(count)).map { names[$0].map { String(cString: $0) } ?? "?" }
    }
}
