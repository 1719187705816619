import Foundation
import JobControlProtocol
import Testing

@testable import JobControlDaemon

/// Every method the Manager interface describes has an access level of its own (none falls to
/// the "anything else needs admin" default by omission), and the table names no method the
/// interface lacks. The dispatch itself is checked by the suites that call each method.
@Suite struct MethodTableTests {
    static func describedMethods() -> Set<String> {
        var names: Set<String> = []
        for line in Interfaces.managerDescription.split(separator: "\n") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard words.count >= 2, words[0] == "method", let open = words[1].firstIndex(of: "(") else { continue }
            names.insert(String(words[1][..<open]))
        }
        return names
    }

    @Test func everyManagerMethodHasAnAccessLevel() {
        let described = Self.describedMethods()
        #expect(described.count >= 15, "parsed \(described.sorted())")
        #expect(Set(ControlService.requiredLevel.keys) == described)
    }
}
