import FoundationEssentials
import Glibc

/// What went wrong with a file operation of FoundationEssentials (which throws `CocoaError`s
/// carrying the `POSIXError` underneath), in the words of `strerror`: "No such file or
/// directory", "Permission denied".
package func fileErrorText(_ error: any Error) -> String {
    if let cocoa = error as? CocoaError {
        if let posix = cocoa.underlying as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        switch cocoa.code {
        // FoundationEssentials reports text that does not decode as a corrupt file.
        case .fileReadInapplicableStringEncoding, .fileReadCorruptFile: return "the file is not valid UTF-8 text"
        case .fileReadNoSuchFile, .fileNoSuchFile: return String(cString: strerror(ENOENT))
        case .fileReadNoPermission, .fileWriteNoPermission: return String(cString: strerror(EACCES))
        case .fileReadTooLarge: return "the file is too large"
        default: break
        }
    }
    if let posix = error as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
    return String(describing: error)
}
