// The spawn of a build's command: posix_spawn(3) with one step it cannot do, joining the build's
// cgroups between the clone and the exec (writing "0" to cgroup.procs moves the writer), so not
// one instruction of the command runs outside them. Same technique as glibc's posix_spawn: a
// CLONE_VM|CLONE_VFORK child on a separate stack, all signals blocked across the clone, handlers
// reset in the child before anything can be delivered to it.
#define _GNU_SOURCE
#include "shim.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

struct child_state {
    const struct jobcontrol_spawn_request *request;
    /// The child was created in `cgroup_dir_fd` (clone3): its cgroup.procs entry is not written.
    int created_in_cgroup;
    sigset_t parent_mask;
    // Written by the child (same memory: CLONE_VM) when a step fails, read after it is gone.
    volatile int error;
    volatile int step;
};

static int fail(struct child_state *state, int step) {
    state->error = errno;
    state->step = step;
    _exit(127);
}

static int child_main(void *argument) {
    struct child_state *state = argument;
    const struct jobcontrol_spawn_request *request = state->request;

    // Default dispositions for every signal a handler may be set for, then an empty mask.
    struct sigaction defaults;
    memset(&defaults, 0, sizeof(defaults));
    defaults.sa_handler = SIG_DFL;
    for (int signal = 1; signal < _NSIG; signal++) {
        if (signal == SIGKILL || signal == SIGSTOP) continue;
        sigaction(signal, &defaults, NULL);
    }
    sigset_t empty;
    sigemptyset(&empty);

    if (setpgid(0, 0) != 0) return fail(state, JOBCONTROL_SPAWN_CLONE);
    for (int index = 0; index < request->cgroup_fd_count; index++) {
        if (state->created_in_cgroup && index == request->cgroup_dir_procs_index) continue;
        if (write(request->cgroup_fds[index], "0", 1) != 1) return fail(state, JOBCONTROL_SPAWN_CGROUP);
    }
    if (request->stdin_fd >= 0) {
        if (dup2(request->stdin_fd, 0) != 0) return fail(state, JOBCONTROL_SPAWN_STDIO);
    } else {
        int null = open("/dev/null", O_RDONLY);
        if (null < 0) return fail(state, JOBCONTROL_SPAWN_STDIO);
        if (null != 0 && (dup2(null, 0) != 0 || close(null) != 0)) return fail(state, JOBCONTROL_SPAWN_STDIO);
    }
    if (dup2(request->stdout_fd, 1) != 1 || dup2(request->stderr_fd, 2) != 2) {
        return fail(state, JOBCONTROL_SPAWN_STDIO);
    }
    if (request->working_directory && chdir(request->working_directory) != 0) {
        return fail(state, JOBCONTROL_SPAWN_CHDIR);
    }
    // Nothing else the daemon has open reaches the command. close_range's CLOEXEC flag needs
    // Linux 5.11; before it, every descriptor up to the limit is closed one by one.
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        struct rlimit files;
        long last = getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < 1048576 ? (long)files.rlim_cur : 65536;
        for (long fd = 3; fd < last; fd++) close((int)fd);
    }
    // The job's limits last: a low RLIMIT_NOFILE set before stdin was opened made that open
    // fail (the lowest free descriptor of this many-threaded daemon lies far above 3), and the
    // fallback above must see the daemon's limit, not the job's.
    for (int index = 0; index < request->rlimit_count; index++) {
        struct rlimit limit = {request->rlimits[index].value, request->rlimits[index].value};
        if (setrlimit(request->rlimits[index].resource, &limit) != 0) return fail(state, JOBCONTROL_SPAWN_RLIMIT);
    }
    if (request->set_nice && setpriority(PRIO_PROCESS, 0, request->nice) != 0) {
        return fail(state, JOBCONTROL_SPAWN_NICE);
    }
    sigprocmask(SIG_SETMASK, &empty, NULL);
    execve(request->path, request->argv, request->envp);
    return fail(state, JOBCONTROL_SPAWN_EXEC);
}

// clone3(2) with CLONE_VM: the child starts on its own stack, so it cannot return into C code
// that expects the parent's frame. These trampolines make the system call and, in the child,
// call fn(arg) and exit with its result (as glibc's and musl's clone do).
#if defined(__x86_64__) || defined(__aarch64__)
#define JOBCONTROL_HAVE_CLONE3 1
long jobcontrol_clone3_raw(void *args, unsigned long size, int (*fn)(void *), void *arg);
#if defined(__x86_64__)
__asm__(
    ".text\n"
    ".globl jobcontrol_clone3_raw\n"
    ".type jobcontrol_clone3_raw,@function\n"
    "jobcontrol_clone3_raw:\n"
    "    mov %rdx, %r8\n"      // fn and arg survive the system call in r8 and r9
    "    mov %rcx, %r9\n"
    "    mov $435, %eax\n"     // __NR_clone3
    "    syscall\n"
    "    test %rax, %rax\n"
    "    jnz 1f\n"
    "    xor %ebp, %ebp\n"     // the child: outermost frame
    "    mov %r9, %rdi\n"
    "    call *%r8\n"
    "    mov %eax, %edi\n"
    "    mov $60, %eax\n"      // __NR_exit
    "    syscall\n"
    "    hlt\n"
    "1:  ret\n"
    ".size jobcontrol_clone3_raw, .-jobcontrol_clone3_raw\n");
#else
__asm__(
    ".text\n"
    ".globl jobcontrol_clone3_raw\n"
    ".type jobcontrol_clone3_raw,%function\n"
    "jobcontrol_clone3_raw:\n"
    "    mov x9, x2\n"
    "    mov x10, x3\n"
    "    mov x8, #435\n"       // __NR_clone3
    "    svc #0\n"
    "    cbnz x0, 1f\n"
    "    mov x29, #0\n"
    "    mov x0, x10\n"
    "    blr x9\n"
    "    mov x8, #93\n"        // __NR_exit
    "    svc #0\n"
    "1:  ret\n"
    ".size jobcontrol_clone3_raw, .-jobcontrol_clone3_raw\n");
#endif

// struct clone_args up to `cgroup` (CLONE_ARGS_SIZE_VER2, Linux 5.7).
struct jobcontrol_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};
#define JOBCONTROL_CLONE_INTO_CGROUP 0x200000000ULL
#endif

// The child's stack, one per spawning thread, kept for its next spawn: the thread is suspended
// while its child runs on it (CLONE_VFORK), and the child leaves it at its exec or exit, so no
// two children ever share one. A fresh mapping per spawn cost a mmap, a munmap and page faults on
// every build. The thread's key unmaps it when the thread ends (Dispatch's threads come and go).
// Without a key (the process ran out of them), each spawn maps and unmaps its own, as before.
enum { SPAWN_STACK_SIZE = 64 * 1024 };
static pthread_key_t spawn_stack_key;
static int spawn_stack_key_made = 0;
static pthread_once_t spawn_stack_once = PTHREAD_ONCE_INIT;

static void spawn_stack_release(void *stack) { munmap(stack, SPAWN_STACK_SIZE); }

static void spawn_stack_key_create(void) {
    spawn_stack_key_made = pthread_key_create(&spawn_stack_key, spawn_stack_release) == 0;
}

/// The stack for this thread's next child; *kept says whether it stays mapped after the spawn.
static void *spawn_stack(int *kept) {
    pthread_once(&spawn_stack_once, spawn_stack_key_create);
    *kept = 0;
    void *stack = spawn_stack_key_made ? pthread_getspecific(spawn_stack_key) : NULL;
    if (stack != NULL) {
        *kept = 1;
        return stack;
    }
    stack = mmap(NULL, SPAWN_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return NULL;
    if (spawn_stack_key_made && pthread_setspecific(spawn_stack_key, stack) == 0) *kept = 1;
    return stack;
}

// Whether a spawning thread leaves SIGCHLD unblocked, during its spawn and after. A child's exit signal goes
// to the thread that cloned it; blocked there (Dispatch's threads block it), the kernel queues it
// for a thread that does not block it: in the daemon the main thread, parked in sigsuspend, which
// woke once per build only to drop it (its default action is to ignore it). Unblocked in the
// spawning thread, the kernel drops it at once. Only for a process with no SIGCHLD handler of its
// own (the daemon: exits are learned from pidfds), which the daemon turns on at start-up: in a
// process with a handler (a test runner, Foundation's Process), the handler would then run on
// those threads and interrupt their blocking calls.
static int drop_child_signals = 0;

int jobcontrol_spawn_drop_child_signals(void) {
    struct sigaction current;
    if (sigaction(SIGCHLD, NULL, &current) == 0 && current.sa_handler == SIG_IGN) {
        // Ignored SIGCHLD (inherited from whatever started the daemon: it survives exec) makes
        // the kernel reap every command at its exit, before its status can be read: every build
        // would fail. The default disposition also ignores the signal, without the reaping.
        struct sigaction defaults;
        memset(&defaults, 0, sizeof(defaults));
        defaults.sa_handler = SIG_DFL;
        if (sigaction(SIGCHLD, &defaults, &current) != 0) return 0;
    }
    if (sigaction(SIGCHLD, NULL, &current) != 0 || current.sa_handler != SIG_DFL ||
        (current.sa_flags & SA_SIGINFO) != 0) {
        return 0;
    }
    __atomic_store_n(&drop_child_signals, 1, __ATOMIC_RELAXED);
    return 1;
}

int jobcontrol_spawn(const struct jobcontrol_spawn_request *request, pid_t *pid, int *failed_step) {
    const size_t stack_size = SPAWN_STACK_SIZE;
    int stack_kept = 0;
    void *stack = spawn_stack(&stack_kept);
    if (stack == NULL) {
        *failed_step = JOBCONTROL_SPAWN_CLONE;
        return errno;
    }
    struct child_state state;
    memset(&state, 0, sizeof(state));
    state.request = request;

    // Every signal blocked across the clone (the child must not run a handler of ours before it
    // has reset them), except SIGCHLD when its exits are dropped (it has no handler then).
    int dropping = __atomic_load_n(&drop_child_signals, __ATOMIC_RELAXED);
    sigset_t all;
    sigfillset(&all);
    if (dropping) sigdelset(&all, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &all, &state.parent_mask);
    // CLONE_VFORK: this thread resumes once the child has exec'd or exited.
    pid_t child = -1;
    int clone_error = ENOSYS;
#ifdef JOBCONTROL_HAVE_CLONE3
    if (request->cgroup_dir_fd >= 0) {
        struct jobcontrol_clone_args args;
        memset(&args, 0, sizeof(args));
        args.flags = CLONE_VM | CLONE_VFORK | JOBCONTROL_CLONE_INTO_CGROUP;
        args.exit_signal = SIGCHLD;
        args.stack = (uint64_t)(uintptr_t)stack;
        args.stack_size = stack_size;
        args.cgroup = (uint64_t)request->cgroup_dir_fd;
        state.created_in_cgroup = 1;
        long result = jobcontrol_clone3_raw(&args, sizeof(args), child_main, &state);
        if (result < 0) {
            clone_error = (int)-result;
            state.created_in_cgroup = 0;
        } else {
            child = (pid_t)result;
        }
    }
#endif
    // No clone3 (or it refused: an old kernel, a seccomp filter): clone, and the child writes
    // itself into every cgroup.
    if (child < 0 && (request->cgroup_dir_fd < 0 || clone_error == ENOSYS || clone_error == EINVAL ||
                      clone_error == E2BIG || clone_error == EPERM || clone_error == EOPNOTSUPP)) {
        child = clone(child_main, (char *)stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &state);
        clone_error = errno;
    }
    if (dropping) sigdelset(&state.parent_mask, SIGCHLD);
    pthread_sigmask(SIG_SETMASK, &state.parent_mask, NULL);
    if (!stack_kept) munmap(stack, stack_size);

    if (child < 0) {
        *failed_step = JOBCONTROL_SPAWN_CLONE;
        return clone_error;
    }
    if (state.step != 0) {
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
        *failed_step = state.step;
        return state.error;
    }
    *pid = child;
    return 0;
}

#include <sys/prctl.h>

int jobcontrol_set_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}
