// Linux interfaces the Glibc module does not export.
#include <sys/timerfd.h>
#include <sys/types.h>

// The SO_PEERCRED result: glibc declares `struct ucred` only under _GNU_SOURCE, which the Glibc
// module is not built with. Same layout: pid, uid, gid.
struct jobcontrol_peer_credentials {
    pid_t pid;
    uid_t uid;
    gid_t gid;
};

// Spawning a build's command (ProcessSpawner) and waiting for it (ProcessEvents).
#include <errno.h>
#include <spawn.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// glibc declares these two only under _GNU_SOURCE (the Glibc module is built without it).
extern int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *__restrict, const char *__restrict);
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *, int);
extern int pipe2(int __pipedes[2], int __flags);

/// A pidfd for `pid` (Linux 5.3): readable once the process has exited; -1 with errno.
static inline int jobcontrol_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/// Reaps the exited process behind `pidfd`: `*code` is CLD_EXITED, CLD_KILLED or CLD_DUMPED and
/// `*status` the exit status or the signal. 0, or -1 with errno. With `nohang`, returns 0 with
/// `*code` 0 when the process has not exited yet.
static inline int jobcontrol_pidfd_reap(int pidfd, int nohang, int *code, int *status) {
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    int rc = waitid((idtype_t)3 /* P_PIDFD */, (id_t)pidfd, &info, WEXITED | (nohang ? WNOHANG : 0));
    if (rc == 0) {
        *code = info.si_pid == 0 ? 0 : info.si_code;
        *status = info.si_status;
    }
    return rc;
}

/// Arms `fd` for one readiness report (EPOLLONESHOT): added the first time, modified after.
static inline int jobcontrol_epoll_arm(int epfd, int fd, int first) {
    struct epoll_event event;
    memset(&event, 0, sizeof(event));
    event.events = EPOLLIN | EPOLLONESHOT;
    event.data.fd = fd;
    return epoll_ctl(epfd, first ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &event);
}

static inline int jobcontrol_epoll_remove(int epfd, int fd) {
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
}

/// Waits for readiness; writes the ready descriptors to `fds` (at most 64) and returns their count.
static inline int jobcontrol_epoll_wait(int epfd, int *fds, int max) {
    struct epoll_event events[64];
    if (max > 64) max = 64;
    int count = epoll_wait(epfd, events, max, -1);
    for (int index = 0; index < count; index++) fds[index] = events[index].data.fd;
    return count;
}
