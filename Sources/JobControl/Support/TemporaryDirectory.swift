import Glibc

/// The directory for temporary files: `$TMPDIR` when set and not empty, else `/tmp` (what
/// Foundation's `NSTemporaryDirectory()` gave, without its trailing slash).
package var temporaryDirectoryPath: String {
    guard let value = getenv("TMPDIR").map({ String(cString: $0) }), !value.isEmpty else { return "/tmp" }
    return value.count > 1 && value.hasSuffix("/") ? String(value.dropLast()) : value
}
