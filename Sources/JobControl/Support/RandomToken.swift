import CLinux

/// A fresh, unguessable token: 256 bits from the system's CSPRNG as 64 lowercase hex digits. A
/// build's token for its in-build helpers and the dashboard's session and CSRF tokens.
package func randomToken() -> String {
    var bytes = [UInt8](repeating: 0, count: 32)
    // One getrandom(2) for all 32 bytes (the kernel's CSPRNG; at most 256 bytes are never cut
    // short once it is seeded), not one per 64-bit word; the generator is the fallback.
    let filled = bytes.withUnsafeMutableBytes { jobcontrol_getrandom($0.baseAddress, UInt($0.count)) }
    if filled != bytes.count {
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = generator.next() }
    }
    return bytes.hexText
}
