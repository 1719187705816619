import FoundationEssentials
import Glibc

/// What went wrong with a file operation of FoundationEssentials (which throws `CocoaError`s
/// carrying the `POSIXError` underneath), in the words of `strerror`: "No such file or
/// directory", "Permission denied".
package func fileErrorText(_ error: any Error) -> String {
    if let cocoa = error as? CocoaError {
        if let posix = cocoa.underlying as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        switch cocoa.code {
        case .fileReadInapplicableStringEncoding: return "the file is not valid UTF-8 text"
        case .fileReadNoSuchFile, .fileNoSuchFile: return String(cString: strerror(ENOENT))
        case .fileReadNoPermission, .fileWriteNoPermission: return String(cString: strerror(EACCES))
        case .fileReadTooLarge: return "the file is too large"
        default: break
        }
    }
    if let posix = error as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
    return String(describing: error)
}

extension Unicode.Scalar {
    /// `A`–`Z`, `a`–`z`, `0`–`9`: the letters and digits of names (job ids, node names) and of
    /// words a shell needs no quotes for.
    package var isASCIIAlphanumeric: Bool {
        ("a"..."z").contains(self) || ("A"..."Z").contains(self) || ("0"..."9").contains(self)
    }
}

/// Writes `text` to the process's standard error, unbuffered (`write(2)`, all of it).
package func writeToStandardError(_ text: String) {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        if written > 0 {
            bytes = bytes.dropFirst(written)
        } else if written < 0 && errno == EINTR {
            continue
        } else {
            return
        }
    }
}
