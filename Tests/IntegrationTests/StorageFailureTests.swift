import Foundation
import Testing

/// Storage that cannot be used makes the real daemon refuse to start, naming the path, and leaves
/// the data as it was.
@Suite struct StorageFailureTests {
    static let config = "jobs:\n  - {id: a, command: 'true'}\n"

    @Test func aDirectoryTheDaemonMayNotWriteIsRefused() async throws {
        let directory = try TemporaryDirectory()
        chmod(directory.path, 0o755)
        try directory.write("c.yaml", Self.config)
        let readOnly = directory.file("ro")
        try FileManager.default.createDirectory(
            atPath: readOnly, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o555])
        let sockets = directory.file("run")
        try FileManager.default.createDirectory(
            atPath: sockets, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o777])
        // As root every permission check passes, so run the daemon as nobody.
        let result = try await runProcess(
            "/usr/sbin/runuser",
            [
                "-u", "nobody", "--", Binaries.jobcontrold, "--config", directory.file("c.yaml"),
                "--storage", "sqlite://\(readOnly)/db.sqlite3", "--socket", sockets + "/s.sock",
            ])
        #expect(result.status == 74, "\(result.stderr)")
        #expect(result.stderr.contains("\(readOnly)/db.sqlite3"))
        #expect(!FileManager.default.fileExists(atPath: sockets + "/s.sock"))
    }

    @Test func aFullDiskIsRefusedWithAClearError() async throws {
        let directory = try TemporaryDirectory()
        try directory.write("c.yaml", Self.config)
        let mountPoint = directory.file("small")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: false)
        // A private mount namespace with a 64 KiB tmpfs, filled up before the daemon starts.
        let script = """
            mount -t tmpfs -o size=64k tmpfs '\(mountPoint)' || exit 99
            dd if=/dev/zero of='\(mountPoint)/filler' bs=4k 2>/dev/null
            exec '\(Binaries.jobcontrold)' --config '\(directory.file("c.yaml"))' \
                --storage 'sqlite://\(mountPoint)/db.sqlite3' --socket '\(directory.file("s.sock"))'
            """
        let result = try await runProcess(
            "/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", script])
        try #require(result.status != 99, "cannot mount a tmpfs here: \(result.stderr)")
        #expect(result.status == 74, "\(result.stderr)")
        #expect(result.stderr.contains("\(mountPoint)/db.sqlite3"))
        #expect(result.stderr.contains("database or disk is full"), "\(result.stderr)")
        #expect(
            result.stderr.contains("free space on that file system"), "the message says what to do: \(result.stderr)")
    }

    @Test func aFileThatIsNotADatabaseIsLeftUntouched() async throws {
        let directory = try TemporaryDirectory()
        try directory.write("c.yaml", Self.config)
        let text = "important notes, not a database\n"
        try directory.write("notes.txt", text)
        let result = try await runProcess(
            Binaries.jobcontrold,
            [
                "--config", directory.file("c.yaml"), "--storage", "sqlite://" + directory.file("notes.txt"),
                "--socket", directory.file("s.sock"),
            ])
        #expect(result.status == 74)
        #expect(result.stderr.contains(directory.file("notes.txt")))
        #expect(try String(contentsOfFile: directory.file("notes.txt"), encoding: .utf8) == text)
    }
}
