import Glibc
import Synchronization

/// Output that could not be written is an error: `jobctl --json builds > /full/disk/file` ended
/// with status 0 and a cut-off file, and a script went on with it. Checked once, at exit (as
/// coreutils' `close_stdout` does), for both ways jobctl writes: through `print` (stdio, whose
/// buffer is flushed here) and through ``writeAll(_:_:)`` (which records its failures).
enum OutputCheck {
    /// The errno of a failed direct write to stdout, 0 when none failed.
    static let directWriteFailure = Atomic<Int32>(0)

    /// Installs the check: at exit, stdout is flushed, and a failure is reported on stderr with
    /// exit status 74 (EX_IOERR) whatever the command's own status was. A reader that went away
    /// (EPIPE) ends the process as SIGPIPE would, as during the command (``readerGone()``).
    static func install() {
        atexit {
            var failure: Int32 = 0
            // Every stdio stream: stdout is the one jobctl writes (glibc keeps what it could not
            // write, so a flush fails again after an earlier failure, with its errno).
            if fflush(nil) != 0 { failure = errno == 0 ? EIO : errno }
            if failure == 0 { failure = OutputCheck.directWriteFailure.load(ordering: .relaxed) }
            guard failure != 0 else { return }
            if failure == EPIPE {
                signal(SIGPIPE, SIG_DFL)
                raise(SIGPIPE)
                _exit(141)
            }
            let message = "jobctl: cannot write the output: \(String(cString: strerror(failure)))\n"
            _ = message.withCString { write(STDERR_FILENO, $0, strlen($0)) }
            _exit(74)
        }
    }
}
