import Foundation
import JobControl
import Testing

/// A secret is masked in every form Python writes it in, with Python itself as the oracle:
/// `repr()` (which escapes what it does not print: a no-break space, a zero-width space, C1
/// controls, private-use and tag characters) and `json.dumps` with and without `ensure_ascii`.
@Suite struct SecretFormsTests {
    @Test func everyFormPythonWritesASecretInIsMasked() async throws {
        let secrets = [
            "pa'ss\"wd\\x\ttab", "nbsp\u{A0}here", "zero\u{200B}width", "c1\u{85}ctl", "bell\u{7}del\u{7F}",
            "emoji😀x", "tag\u{E0001}x", "private\u{E000}x", "plain é", "line\u{2028}sep", "ogham\u{1680}space",
            // Unicode 15 (U+1FAE8): a Python with older tables escapes it, this runtime prints it.
            "shaking\u{1FAE8}face",
        ]
        let oracle = try await runProcess(
            "/usr/bin/env",
            [
                "python3", "-c",
                """
                import json, sys
                for secret in json.loads(sys.argv[1]):
                    print(json.dumps([repr(secret), "%r" % (secret + '"'), json.dumps(secret),
                                      json.dumps(secret, ensure_ascii=False)]))
                """,
                JSONValue.array(secrets.map { .string($0) }).jsonText(),
            ])
        let lines = oracle.stdout.split(separator: "\n")
        #expect(lines.count == secrets.count, "\(oracle.stderr)")
        for (secret, line) in zip(secrets, lines) {
            guard case .array(let forms) = try JSONValue.parse(String(line)) else { continue }
            let redactor = SecretRedactor([secret])
            for form in forms.compactMap(\.stringValue) {
                let masked = redactor.redact(form)
                #expect(masked.contains("***"), "\(form) of \(secret.debugDescription) is not masked")
                #expect(
                    !masked.contains(String(form.dropFirst().dropLast())),
                    "\(form) of \(secret.debugDescription) keeps the secret")
            }
        }
    }
}
