// Thread names for the daemon's dedicated threads (DedicatedThread): glibc declares
// pthread_setname_np only under _GNU_SOURCE, which the Glibc module is not built with.
#define _GNU_SOURCE
#include "shim.h"

#include <pthread.h>

void jobcontrol_set_thread_name(const char *name) {
    pthread_setname_np(pthread_self(), name);
}
