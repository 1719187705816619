import Foundation
import Testing

/// Shell completions come from the argument definitions, so every command is in them.
@Suite struct CompletionTests {
    @Test(arguments: ["bash", "zsh", "fish"]) func completionsNameEveryCommand(_ shell: String) async throws {
        let result = try await runProcess(Binaries.jobctl, ["--generate-completion-script", shell])
        #expect(result.status == 0)
        for command in [
            "status", "jobs", "run", "logs", "progress", "next", "calendar", "suspend", "resume", "check-config",
        ] {
            #expect(result.stdout.contains(command), "\(shell) completion lacks \(command)")
        }
        #expect(result.stdout.contains("follow"))
    }
}
