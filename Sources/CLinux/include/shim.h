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
#include <execinfo.h>
#include <spawn.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

// glibc declares these two only under _GNU_SOURCE (the Glibc module is built without it).
extern int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *__restrict, const char *__restrict);
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *, int);
extern int pipe2(int __pipedes[2], int __flags);

/// A pidfd for `pid` (Linux 5.3): readable once the process has exited; -1 with errno.
/// An anonymous file in memory (memfd_create, close-on-exec), or -1 with errno: what a
/// notification's program reads on stdin, whatever its size.
static inline int jobcontrol_memfd(const char *name) {
    return (int)syscall(SYS_memfd_create, name, 1U /* MFD_CLOEXEC */);
}

/// getrandom(2) from the kernel's CSPRNG (blocking only until it is first seeded): the number
/// of bytes written, or -1 with errno.
static inline long jobcontrol_getrandom(void *buffer, unsigned long length) {
    return (long)getrandom(buffer, length, 0);
}

static inline int jobcontrol_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/// Reaps the exited process behind `pidfd`: `*code` is CLD_EXITED, CLD_KILLED or CLD_DUMPED and
/// `*status` the exit status or the signal; `*usage` (when not NULL) gets the resources it and
/// its waited-for descendants used (the raw waitid system call reports them; glibc's wrapper
/// does not). 0, or -1 with errno. With `nohang`, returns 0 with `*code` 0 when the process has
/// not exited yet. waitid(P_PIDFD) needs Linux 5.4, the daemon's oldest kernel.
static inline int jobcontrol_pidfd_reap(int pidfd, int nohang, int *code, int *status, struct rusage *usage) {
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    int rc = (int)syscall(SYS_waitid, 3 /* P_PIDFD */, pidfd, &info, WEXITED | (nohang ? WNOHANG : 0), usage);
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

/// Names the calling thread (at most 15 bytes show; `ps -L`, `top -H`, core dumps).
void jobcontrol_set_thread_name(const char *name);

// Starting a build's command (spawn.c).

/// A resource limit set in the child before exec: soft and hard both `value`.
struct jobcontrol_rlimit {
    int resource;
    unsigned long long value;
};

/// What the child is set up with before it runs `path`. Every pointer stays valid during the call.
struct jobcontrol_spawn_request {
    const char *path;
    char *const *argv;
    char *const *envp;
    /// NULL to stay in the daemon's working directory.
    const char *working_directory;
    /// Write ends for the command's stdout and stderr.
    int stdout_fd;
    int stderr_fd;
    /// What the command reads on stdin, or -1 for /dev/null.
    int stdin_fd;
    /// `cgroup.procs` files (opened O_WRONLY|O_CLOEXEC) the child writes itself into before exec,
    /// so it runs no instruction of the command outside its build's cgroups.
    const int *cgroup_fds;
    int cgroup_fd_count;
    /// A cgroup v2 directory (opened O_RDONLY|O_DIRECTORY) the child is created in with
    /// clone3(CLONE_INTO_CGROUP), or -1. Joining by a write to cgroup.procs migrates the process,
    /// which waits for an RCU grace period (about 16 ms here when builds are sparse); created in
    /// place, it never migrates. `cgroup_dir_procs_index` is that directory's entry in
    /// `cgroup_fds`, written only if clone3 is not available (older kernels, other CPUs).
    int cgroup_dir_fd;
    int cgroup_dir_procs_index;
    const struct jobcontrol_rlimit *rlimits;
    int rlimit_count;
    /// Applied when `set_nice` is non-zero.
    int set_nice;
    int nice;
};

/// Which step of the child's set-up failed (`*failed_step` of jobcontrol_spawn).
enum jobcontrol_spawn_step {
    JOBCONTROL_SPAWN_CLONE = 1,
    JOBCONTROL_SPAWN_CGROUP = 2,
    JOBCONTROL_SPAWN_RLIMIT = 3,
    JOBCONTROL_SPAWN_NICE = 4,
    JOBCONTROL_SPAWN_STDIO = 5,
    JOBCONTROL_SPAWN_CHDIR = 6,
    JOBCONTROL_SPAWN_EXEC = 7,
};

/// Starts the command as posix_spawn does (a vfork-style clone on a stack of its own: the
/// daemon's memory is not copied), in a new process group, with default signal dispositions and
/// an empty mask, and no inherited descriptor besides 0, 1 and 2; in between it joins the
/// cgroups and applies the limits. Returns 0 with `*pid` set, or an errno with `*failed_step`
/// saying where (the child is reaped then).
int jobcontrol_spawn(const struct jobcontrol_spawn_request *request, pid_t *pid, int *failed_step);

/// From now on, a spawning thread leaves SIGCHLD unblocked after its spawn (see spawn.c). For a
/// process that handles no SIGCHLD itself (the daemon); returns 0 and does nothing when SIGCHLD
/// has a handler. An ignored SIGCHLD (which makes the kernel reap children unasked) is first
/// reset to the default.
int jobcontrol_spawn_drop_child_signals(void);

/// Makes this process the reaper of orphaned descendants (PR_SET_CHILD_SUBREAPER): a build's
/// double-forked process is reparented here, not to init. prctl(2) is variadic: Swift cannot
/// call it directly.
int jobcontrol_set_child_subreaper(void);
