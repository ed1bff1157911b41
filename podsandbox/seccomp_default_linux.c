/* The RuntimeDefault seccomp profile (x86_64), as an OCI linux.seccomp object.
 *
 * Same policy as the usual container runtime default: everything not listed fails with
 * EPERM; a large set of ordinary syscalls is allowed; syscalls that only make sense with a
 * capability are allowed only when the container holds it; namespace-creating clone flags
 * need CAP_SYS_ADMIN; clone3 answers ENOSYS without it so libc falls back to clone, whose
 * flags can be checked. Names unknown to the kernel or libseccomp are skipped by the OCI
 * runtime, so listing newer ones is harmless. */
#include <string.h>

#include "podsandbox/ocispec_int_linux.h"

enum {
    C_DAC_READ_SEARCH = 2,
    C_SYS_MODULE = 16,
    C_SYS_RAWIO = 17,
    C_SYS_CHROOT = 18,
    C_SYS_PTRACE = 19,
    C_SYS_PACCT = 20,
    C_SYS_ADMIN = 21,
    C_SYS_BOOT = 22,
    C_SYS_NICE = 23,
    C_SYS_TIME = 25,
    C_SYS_TTY_CONFIG = 26,
    C_SYSLOG = 34,
    C_PERFMON = 38,
    C_BPF = 39,
};

/* Allowed syscall names, space separated; cap -1: for everyone. */
static const struct {
    int cap;
    const char *names;
} allow_groups[] = {
    {-1, "accept accept4 access adjtimex alarm arch_prctl bind brk cachestat capget capset "
         "chdir chmod chown clock_adjtime clock_getres clock_gettime clock_nanosleep close "
         "close_range connect copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 "
         "epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd "
         "eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fallocate "
         "fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchownat fcntl fdatasync "
         "fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstatfs fsync ftruncate "
         "futex futex_requeue futex_wait futex_waitv futex_wake futimesat getcpu getcwd "
         "getdents getdents64 getegid geteuid getgid getgroups getitimer getpeername getpgid "
         "getpgrp getpid getppid getpriority getrandom getresgid getresuid getrlimit "
         "get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid "
         "gettimeofday getuid getxattr inotify_add_watch inotify_init inotify_init1 "
         "inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents ioprio_get "
         "ioprio_set io_setup io_submit kill landlock_add_rule landlock_create_ruleset "
         "landlock_restrict_self lchown lgetxattr link linkat listen listxattr llistxattr "
         "lremovexattr lseek lsetxattr lstat madvise map_shadow_stack membarrier memfd_create "
         "memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap "
         "modify_ldt mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedsend "
         "mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap "
         "name_to_handle_at nanosleep newfstatat open openat openat2 pause pidfd_open "
         "pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll prctl "
         "pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pwrite64 pwritev pwritev2 "
         "read readahead readlink readlinkat readv recvfrom recvmmsg recvmsg remap_file_pages "
         "removexattr rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction "
         "rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend "
         "rt_sigtimedwait rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam "
         "sched_get_priority_max sched_get_priority_min sched_getscheduler "
         "sched_rr_get_interval sched_setaffinity sched_setattr sched_setparam "
         "sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop "
         "sendfile sendmmsg sendmsg sendto setfsgid setfsuid setgid setgroups setitimer "
         "setpgid setpriority setregid setresgid setresuid setreuid setrlimit set_robust_list "
         "setsid setsockopt set_thread_area set_tid_address setuid setxattr shmat shmctl shmdt "
         "shmget shutdown sigaltstack signalfd signalfd4 socket socketpair splice stat statfs "
         "statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time "
         "timer_create timer_delete timer_getoverrun timer_gettime timer_settime "
         "timerfd_create timerfd_gettime timerfd_settime times tkill truncate umask uname "
         "unlink unlinkat utime utimensat utimes vfork vmsplice wait4 waitid write writev"},
    {C_DAC_READ_SEARCH, "open_by_handle_at"},
    {C_SYS_ADMIN, "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick "
                  "lookup_dcookie mount mount_setattr move_mount open_tree perf_event_open "
                  "quotactl quotactl_fd setdomainname sethostname setns syslog umount2 unshare"},
    {C_SYS_BOOT, "reboot"},
    {C_SYS_CHROOT, "chroot"},
    {C_SYS_MODULE, "delete_module init_module finit_module"},
    {C_SYS_PACCT, "acct"},
    {C_SYS_PTRACE, "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace"},
    {C_SYS_RAWIO, "iopl ioperm"},
    {C_SYS_TIME, "settimeofday clock_settime"},
    {C_SYS_TTY_CONFIG, "vhangup"},
    {C_SYS_NICE, "get_mempolicy mbind set_mempolicy"},
    {C_SYSLOG, "syslog"},
    {C_BPF, "bpf"},
    {C_PERFMON, "perf_event_open"},
};

#define CLONE_NS_FLAGS 0x7E020000u /* NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET */

/* Syscalls allowed or refused depending on an argument. without_cap >= 0: the rule applies
 * only when the container lacks that capability (it has the plain allow otherwise). */
static const struct {
    const char *name;
    int without_cap;
    int errno_ret; /* 0: allow */
    const char *op;
    unsigned long long value, value2;
} arg_rules[] = {
    {"personality", -1, 0, "SCMP_CMP_EQ", 0x0, 0},
    {"personality", -1, 0, "SCMP_CMP_EQ", 0x8, 0},
    {"personality", -1, 0, "SCMP_CMP_EQ", 0x20000, 0},
    {"personality", -1, 0, "SCMP_CMP_EQ", 0x20008, 0},
    {"personality", -1, 0, "SCMP_CMP_EQ", 0xffffffff, 0},
    {"clone", C_SYS_ADMIN, 0, "SCMP_CMP_MASKED_EQ", CLONE_NS_FLAGS, 0},
    {"clone3", C_SYS_ADMIN, 38 /* ENOSYS */, NULL, 0, 0},
};

static json_t *split_names(const char *s)
{
    json_t *a = json_array();
    while (*s) {
        size_t n = strcspn(s, " ");
        if (n)
            json_array_append_new(a, json_stringn(s, n));
        s += n;
        s += strspn(s, " ");
    }
    return a;
}

static int holds(uint64_t caps, int cap)
{
    return cap < 0 || (caps >> cap) & 1;
}

static json_t *arg_rule(size_t i)
{
    json_t *r = json_pack("{s:[s]}", "names", arg_rules[i].name);
    if (arg_rules[i].errno_ret) {
        json_object_set_new(r, "action", json_string("SCMP_ACT_ERRNO"));
        json_object_set_new(r, "errnoRet", json_integer(arg_rules[i].errno_ret));
    } else {
        json_object_set_new(r, "action", json_string("SCMP_ACT_ALLOW"));
    }
    if (arg_rules[i].op)
        json_object_set_new(r, "args",
                            json_pack("[{s:i, s:I, s:I, s:s}]", "index", 0, "value",
                                      (json_int_t)arg_rules[i].value, "valueTwo",
                                      (json_int_t)arg_rules[i].value2, "op", arg_rules[i].op));
    return r;
}

json_t *pod_seccomp_default(uint64_t caps)
{
    json_t *rules = json_array();
    size_t i;
    for (i = 0; i < sizeof allow_groups / sizeof allow_groups[0]; i++) {
        if (holds(caps, allow_groups[i].cap))
            json_array_append_new(rules, json_pack("{s:o, s:s}", "names",
                                                   split_names(allow_groups[i].names), "action",
                                                   "SCMP_ACT_ALLOW"));
    }
    for (i = 0; i < sizeof arg_rules / sizeof arg_rules[0]; i++) {
        int c = arg_rules[i].without_cap;
        if (c < 0 || !holds(caps, c))
            json_array_append_new(rules, arg_rule(i));
    }
    return json_pack("{s:s, s:i, s:[sss], s:o}", "defaultAction", "SCMP_ACT_ERRNO",
                     "defaultErrnoRet", 1, "architectures", "SCMP_ARCH_X86_64", "SCMP_ARCH_X86",
                     "SCMP_ARCH_X32", "syscalls", rules);
}
