// Descriptors 0, 1 and 2 that whatever started the process left closed are opened on /dev/null
// before anything else runs. Otherwise the first files the process opens would take those
// numbers (in the daemon: Dispatch's epoll and eventfd, before any Swift code of ours runs),
// where a write to standard output, or a command's stdin set up from them, would meet the wrong
// file. A constructor, for that reason: main comes too late.
#include <errno.h>
#include <fcntl.h>

__attribute__((constructor)) static void jobcontrol_open_missing_standard_descriptors(void) {
    for (int descriptor = 0; descriptor <= 2; descriptor++) {
        if (fcntl(descriptor, F_GETFD) == -1 && errno == EBADF) {
            // open gives the lowest free number: this one, as those below it are open by now.
            if (open("/dev/null", O_RDWR) < 0) return;
        }
    }
}
