import Dispatch
import FoundationEssentials
import Glibc

/// jobctl's entry point is synchronous on purpose. An `async` main parks the main thread in
/// dispatch_main(), which ends it with pthread_exit(), a forced unwind of its stack; here the
/// command runs as a task while the main thread waits for it, then exits the process. That saved
/// 1–1.5 ms of an 11 ms `jobctl status` here, and 70 ms in a fully static build, where the first
/// unwind sorts every unwind entry of the executable (docs/performance.md). ArgumentParser
/// exits by itself, with the right status, on errors. The hottest commands skip ArgumentParser
/// (``FastPath``) and run on the main thread alone.
func runJobCtl() -> Never {
    OutputCheck.install()
    if let status = FastPath.run(JobCtl.globalOptionsMovedAfterSubcommand(Array(CommandLine.arguments.dropFirst()))) {
        exit(status)
    }
    runArgumentParser()
}

/// Everything else: ArgumentParser's commands, as a task. A function of its own, so the fast
/// path does not pay for what this one needs first (the task's metadata, looked up at run time).
@inline(never)
func runArgumentParser() -> Never {
    let finished = DispatchSemaphore(value: 0)
    Task.detached {
        await JobCtl.main()
        finished.signal()
    }
    finished.wait()
    exit(0)
}

runJobCtl()
