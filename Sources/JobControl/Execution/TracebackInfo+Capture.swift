import Foundation

extension TracebackInfo {
    /// The current call stack (symbol names only, as Swift offers no more at run time).
    public static func capture(dropping: Int = 1, limit: Int = 64) -> TracebackInfo {
        let symbols = Thread.callStackSymbols.dropFirst(dropping).prefix(limit)
        return TracebackInfo(frames: symbols.map { Frame(filename: "?", function: $0) })
    }
}
