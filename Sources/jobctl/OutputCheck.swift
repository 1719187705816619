// stdout (glibc's FILE *) is a C global; reading it is safe here: jobctl never assigns it.
@preconcurrency import Glibc
import Synchronization

/// Output that could not be written is an error: `jobctl --json builds > /full/disk/file` ended
/// with status 0 and a cut-off file, and a script went on with it. Checked after every `print`
/// (stdio's error flag: glibc drops what a failed write could not write, so a later flush does
/// not fail again) and for direct writes (``writeAll(_:_:)`` records its failures), and reported
/// once, at exit, as coreutils' `close_stdout` does.
enum OutputCheck {
    /// The errno of the first failed write to stdout, 0 while none failed.
    static let failure = Atomic<Int32>(0)

    /// Records a failure of the stdio writes so far (after each `print`); a reader that went away
    /// (EPIPE) ends jobctl at once, as SIGPIPE would.
    static func checkStandardOutput() {
        guard ferror(stdout) != 0 else { return }
        let error = errno == 0 ? EIO : errno
        if error == EPIPE { readerGone() }
        record(error)
    }

    /// Records a failed write to stdout (the first one is kept).
    static func record(_ error: Int32) {
        _ = failure.compareExchange(expected: 0, desired: error, ordering: .relaxed)
    }

    /// Installs the check at exit: stdout is flushed, and a failure is reported on stderr with
    /// exit status 74 (EX_IOERR) whatever the command's own status was.
    /// Writes out what stdio holds for stdout now, recording a failure as every write does: before
    /// output that goes to the descriptor directly (``writeOut(_:)``), which would otherwise come
    /// first on a pipe, where stdio holds lines until its buffer fills or jobctl exits.
    static func flushStandardOutput() {
        if fflush(stdout) != 0 { record(errno == 0 ? EIO : errno) }
        checkStandardOutput()
    }

    /// A closed stdout is a failure too (EBADF), and a closed stdin, stdout or stderr is filled
    /// with /dev/null: the next descriptor opened (the daemon's socket) would take its number and
    /// get what is printed.
    static func install() {
        for descriptor in [STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO] where fcntl(descriptor, F_GETFD) == -1 {
            if descriptor == STDOUT_FILENO { record(EBADF) }
            let null = open("/dev/null", O_RDWR)
            if null >= 0, null != descriptor {
                dup2(null, descriptor)
                close(null)
            }
        }
        atexit {
            OutputCheck.flushStandardOutput()
            let error = OutputCheck.failure.load(ordering: .relaxed)
            guard error != 0 else { return }
            if error == EPIPE { readerGone() }
            let message = "jobctl: cannot write the output: \(String(cString: strerror(error)))\n"
            _ = message.withCString { write(STDERR_FILENO, $0, strlen($0)) }
            _exit(74)
        }
    }
}
