import Foundation
import Testing

/// The daemon links FoundationEssentials only (issue 19): full Foundation brings ICU, 35 MB of
/// the stripped binary and most of the idle daemon's resident code. The test build links it
/// dynamically, so what it needs is what `ldd` lists.
@Suite struct FoundationFreeDaemonTests {
    @Test func jobcontroldNeedsNeitherFoundationNorICU() async throws {
        let listed = try await runProcess("/usr/bin/ldd", [Binaries.jobcontrold], timeout: .seconds(60))
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.contains("libFoundationEssentials"), "\(listed.stdout)")
        for library in ["libFoundation.so", "libFoundationInternationalization", "lib_FoundationICU", "libicu"] {
            #expect(!listed.stdout.contains(library), "jobcontrold links \(library) again: \(listed.stdout)")
        }
    }
}
