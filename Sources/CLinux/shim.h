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
