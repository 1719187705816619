import ArgumentParser
import FoundationEssentials
import Glibc

extension JobCtl {
    struct CheckConfig: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check-config",
            abstract: "Validate a configuration file offline (no daemon needed).",
            discussion: """
                Exit status 0 when valid, 78 (EX_CONFIG) with every problem listed when not. Runs \
                `jobcontrold --check-config`: the daemon's own loader, found next to jobctl or on PATH.
                """)

        @Flag(help: "Print JSON instead of text.")
        var json = false

        @Argument(help: "The configuration file.")
        var file: String

        /// Replaces this process with the daemon's checker, so its output and exit status are ours.
        /// jobctl does not link the configuration loader (YAML, storage, Foundation): that keeps it
        /// small and fast to start for the commands builds call thousands of times.
        func run() throws {
            // `--config=FILE`: a file name that starts with '-' stays a value. argv[0] is `jobctl`:
            // the checker names itself by it in what it says (an unwritable output).
            let arguments = ["jobctl", "--check-config", "--config=" + file] + (json ? ["--json"] : [])
            let sibling = Self.siblingDaemon()
            var argv = arguments.map { strdup($0) } + [nil]
            if let sibling { execv(sibling, &argv) }
            execvp("jobcontrold", &argv)
            printError("cannot run jobcontrold to check the configuration (\(String(cString: strerror(errno))));")
            printError("install it next to jobctl or on PATH")
            throw ExitCode(69)
        }

        /// `jobcontrold` in the directory of this executable, when it is there.
        static func siblingDaemon() -> String? {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
            guard length > 0 else { return nil }
            let path = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard let slash = path.lastIndex(of: "/") else { return nil }
            let candidate = String(path[..<slash]) + "/jobcontrold"
            return access(candidate, X_OK) == 0 ? candidate : nil
        }
    }
}
