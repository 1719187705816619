import FoundationEssentials

extension BuildEngine {
    /// The largest return value stored, as JSON text. Every build record is read whole
    /// (`jobctl build`, the 20 of `jobctl builds`, a dependent's `!retval`) within the protocol's
    /// 8 MiB replies; a bigger result belongs in a file, and the build returns its path.
    static let maxRetvalBytes = 256 << 10
    /// The longest exception message stored; the rest is cut (the traceback keeps where it was).
    static let maxExceptionMessageBytes = 64 << 10

    /// The attempt a line of a build with retries says started (`attempt 3 starts`, logged as
    /// each retry begins), or nil: crash recovery reads the last one.
    nonisolated static func startedAttempt(_ message: String) -> Int64? {
        guard message.hasPrefix("attempt "), message.hasSuffix(" starts") else { return nil }
        return Int64(message.dropFirst("attempt ".count).dropLast(" starts".count))
    }

    /// The deepest nesting of arrays and objects stored in a return value: a listing's reply
    /// wraps each build's value a few levels deeper, and every reader stops at 256.
    static let maxRetvalDepth = 128

    /// Why `value` cannot be a build's return value (nil when it can): nested deeper than
    /// ``maxRetvalDepth``, or holding a number JSON cannot write (infinite or NaN; it would be
    /// stored as null). Walked without recursion.
    public nonisolated static func retvalProblem(_ value: JSONValue) -> String? {
        var stack: [(JSONValue, Int)] = [(value, 0)]
        while let (item, depth) = stack.popLast() {
            switch item {
            case .double(let number) where !number.isFinite:
                return "it holds \(number), which JSON cannot write"
            case .array(let items):
                guard depth < maxRetvalDepth else { return "it is nested deeper than \(maxRetvalDepth) levels" }
                stack.append(contentsOf: items.map { ($0, depth + 1) })
            case .object(let members):
                guard depth < maxRetvalDepth else { return "it is nested deeper than \(maxRetvalDepth) levels" }
                stack.append(contentsOf: members.values.map { ($0, depth + 1) })
            default: break
            }
        }
        return nil
    }

    /// `outcome` as it may be stored: a return value over ``maxRetvalBytes`` fails the build
    /// (`ReturnValueTooLarge`) instead of making its record unreadable; an exception message
    /// over ``maxExceptionMessageBytes`` is cut.
    nonisolated static func bounded(_ outcome: (success: Bool, retval: JSONValue?, exception: BuildException?))
        -> (success: Bool, retval: JSONValue?, exception: BuildException?)
    {
        var outcome = outcome
        if let retval = outcome.retval, let problem = retvalProblem(retval) {
            outcome = (
                false, nil,
                BuildException(
                    type: "ReturnValueNotStorable",
                    message: "the build's return value cannot be stored: \(problem) (return a string or a file's path)")
            )
        }
        if let retval = outcome.retval {
            let size = retval.jsonText().utf8.count
            if size > maxRetvalBytes {
                outcome = (
                    false, nil,
                    BuildException(
                        type: "ReturnValueTooLarge",
                        message:
                            "the build's return value is \(ByteSize.text(UInt64(size))) of JSON; at most \(ByteSize.text(UInt64(maxRetvalBytes))) is stored (write a value that large to a file and return its path)",
                        details: ["bytes": .int(Int64(size))])
                )
            }
        }
        if var exception = outcome.exception, exception.message.utf8.count > maxExceptionMessageBytes {
            let total = exception.message.utf8.count
            let cut = String(decoding: exception.message.utf8.prefix(maxExceptionMessageBytes), as: UTF8.self)
            exception.message = cut + "… (cut from \(ByteSize.text(UInt64(total))))"
            outcome.exception = exception
        }
        return outcome
    }
}
