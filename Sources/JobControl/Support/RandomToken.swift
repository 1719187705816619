/// A fresh, unguessable token: 256 bits from the system's CSPRNG as 64 lowercase hex digits. A
/// build's token for its in-build helpers and the dashboard's session and CSRF tokens.
package func randomToken() -> String {
    var generator = SystemRandomNumberGenerator()
    var bytes: [UInt8] = []
    bytes.reserveCapacity(32)
    for _ in 0..<4 {
        let word: UInt64 = generator.next()
        for shift in stride(from: 56, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift)))
        }
    }
    return bytes.hexText
}
