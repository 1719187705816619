import ArgumentParser
import JobControlClient
import JobControlModel
import JobControlProtocol

extension JobCtl {
    struct Reload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reload",
            abstract: "Reload the daemon's configuration.",
            discussion: """
                The new configuration is validated completely first; if it has errors they are \
                printed, the running configuration stays, and the exit status is 1.
                """)

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let method = "\(Interfaces.manager).Reload"
            let reply: [String: JSONValue]
            do {
                reply = try VarlinkBlockingCall.call(
                    path: global.socketPath, method: method, timeout: GlobalOptions.callTimeout(method))
            } catch ClientError.remote(let error) where error.name == "\(Interfaces.manager).ConfigInvalid" {
                if case .array(let errors)? = error.parameters["errors"] {
                    if global.json {
                        // Scripts parse stdout: the refusal as JSON, like every other answer.
                        printJSON(.object(["reloaded": false, "errors": .array(errors)]))
                    } else {
                        for line in errors { print(line.stringValue ?? line.jsonText()) }
                    }
                }
                throw GlobalOptions.exitStatus(for: ClientError.remote(error))
            } catch {
                throw GlobalOptions.exitStatus(for: error)
            }
            if global.json {
                printJSON(.object(reply))
                return
            }
            print("reloaded: \(reply["jobs"]?.intValue ?? 0) jobs")
            if case .array(let keys)? = reply["needs_restart"], !keys.isEmpty {
                print("restart jobcontrold to apply: " + keys.compactMap(\.stringValue).joined(separator: ", "))
            }
        }
    }
}
