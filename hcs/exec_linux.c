/* hcs_exec_sync: `runc exec --process <file>` with its output collected through pipes. runc
 * exec waits for the process and exits with its status, so the exit code is runc's. On a
 * timeout the process itself (its pid comes from --pid-file) is killed; runc then returns.
 *
 * hcs_exec_start (interactive, for the streaming server): `runc exec --detach`, so runc
 * returns once the process runs; wincrid is a child subreaper, so the process becomes our
 * child and we wait for it ourselves. Its stdio is our pipes, or under a TTY the pty master
 * runc sends over --console-socket. */
#include "hcs/runtime_linux.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Temporary files of one exec: the process document, the pid file, runc's log. */
typedef struct hcs_exec_files {
    char process[PATH_MAX];
    char pid[PATH_MAX];
    char log[PATH_MAX];
} hcs_exec_files;

static void exec_files(const hcs_runtime *rt, hcs_exec_files *f)
{
    static atomic_uint seq;
    unsigned n = atomic_fetch_add(&seq, 1);
    int me = (int)getpid();
    snprintf(f->process, sizeof f->process, "%s/exec/%d-%u.json", rt->state_dir, me, n);
    snprintf(f->pid, sizeof f->pid, "%s/exec/%d-%u.pid", rt->state_dir, me, n);
    snprintf(f->log, sizeof f->log, "%s/exec/%d-%u.log", rt->state_dir, me, n);
}

static void exec_files_remove(const hcs_exec_files *f)
{
    unlink(f->process);
    unlink(f->pid);
    unlink(f->log);
}

static int read_pid(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    int pid = 0;
    if (fscanf(f, "%d", &pid) != 1)
        pid = 0;
    fclose(f);
    return pid;
}

/* Timeout: kill the exec'd process once runc has written its pid; runc then exits too. */
static void kill_exec(void *ctx, pid_t runc_pid)
{
    (void)runc_pid;
    const hcs_exec_files *f = ctx;
    int pid = read_pid(f->pid);
    if (pid > 0)
        kill(pid, SIGKILL);
}

/* tty: the process gets a terminal, 80x24 until the client resizes it. */
static int write_process(const hcs_exec_files *f, const json_t *process, int tty, wc_err *err)
{
    json_t *doc = json_deep_copy(process);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return wc_err_set(err, WC_INVALID_ARGUMENT, "exec: the process must be an object");
    }
    /* ExecSync collects output, which cannot go through a terminal; streaming exec may. */
    json_object_set_new(doc, "terminal", json_boolean(tty));
    if (tty)
        json_object_set_new(doc, "consoleSize", json_pack("{s:i,s:i}", "height", 24, "width", 80));
    int rc = json_dump_file(doc, f->process, JSON_COMPACT);
    json_decref(doc);
    if (rc < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot write %s", f->process);
    return 0;
}

/* runc itself failed (no process was started): its message is in its log. */
static int exec_failed(const char *id, const hcs_exec_files *f, const hcs_run_result *res,
                       wc_err *err)
{
    char msg[WC_ERR_MSG_MAX] = "", text[8192];
    FILE *lf = fopen(f->log, "re");
    size_t n = lf ? fread(text, 1, sizeof text - 1, lf) : 0;
    if (lf)
        fclose(lf);
    text[n] = '\0';
    hcs_runc_message(text, n, msg, sizeof msg);
    if (!*msg)
        hcs_runc_message(res->err, res->err_len, msg, sizeof msg);
    wc_code code = strstr(msg, "does not exist") ? WC_NOT_FOUND : WC_FAILED_PRECONDITION;
    return wc_err_set(err, code, "exec in container %s: %s (exit %d)", id, msg, res->status);
}

int hcs_exec_sync(hcs_runtime *rt, const char *id, const json_t *process, int64_t timeout_ms,
                  size_t max_output, hcs_exec_result *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    if (!id || !*id || strchr(id, '/'))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "invalid container id \"%s\"", id ? id : "");
    hcs_exec_files f;
    exec_files(rt, &f);
    if (write_process(&f, process, 0, err) < 0)
        return -1;
    const char *args[] = {"exec", "--process", f.process, "--pid-file", f.pid, id, NULL};
    const char **argv = hcs_runc_argv(rt, f.log, args);
    hcs_run_opts o;
    hcs_run_opts_init(&o);
    o.max_output = max_output;
    o.timeout_ms = timeout_ms;
    o.on_timeout = kill_exec;
    o.timeout_ctx = &f;
    hcs_run_result res;
    int rc = hcs_run(argv, &o, &res, err);
    free(argv);
    if (rc == 0 && res.status != 0 && !res.timed_out && access(f.pid, F_OK) != 0)
        rc = exec_failed(id, &f, &res, err);
    if (rc == 0) {
        *out = (hcs_exec_result){.out = res.out,
                                 .out_len = res.out_len,
                                 .err = res.err,
                                 .err_len = res.err_len,
                                 .exit_code = res.status,
                                 .timed_out = res.timed_out,
                                 .truncated = res.truncated};
        res.out = res.err = NULL;
    }
    hcs_run_result_clear(&res);
    exec_files_remove(&f);
    return rc;
}

/* ---- interactive exec ---- */

struct hcs_exec_proc {
    pthread_mutex_t mu; /* guards reaped and exit_code */
    pid_t pid;
    int pidfd;  /* signals go through it, so a reused pid is never hit */
    int master; /* the pty master under a TTY, else -1 */
    int reaped;
    int exit_code;
};

/* The two ends of one stdio stream: the child's and ours. */
typedef struct exec_pipes {
    int child[3], parent[3];
    int listen_fd; /* console socket (TTY) */
    char *console_path;
    char console_dir[PATH_MAX];
} exec_pipes;

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void pipes_close(exec_pipes *p)
{
    for (int i = 0; i < 3; i++) {
        close_fd(&p->child[i]);
        close_fd(&p->parent[i]);
    }
    close_fd(&p->listen_fd);
    hcs_console_remove(p->console_path);
    free(p->console_path);
    p->console_path = NULL;
    if (p->console_dir[0])
        rmdir(p->console_dir);
    p->console_dir[0] = '\0';
}

/* One stream: a pipe when wanted, /dev/null otherwise; both ends close-on-exec. */
static int pipe_stream(exec_pipes *p, int i, int wanted, wc_err *err)
{
    if (!wanted) {
        p->child[i] = open("/dev/null", (i == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
        if (p->child[i] < 0)
            return wc_err_sys(err, WC_INTERNAL, errno, "cannot open /dev/null");
        return 0;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot create a pipe");
    p->child[i] = i == 0 ? fds[0] : fds[1];
    p->parent[i] = i == 0 ? fds[1] : fds[0];
    return 0;
}

static void pipes_init(exec_pipes *p)
{
    for (int i = 0; i < 3; i++)
        p->child[i] = p->parent[i] = -1;
    p->listen_fd = -1;
    p->console_path = NULL;
    p->console_dir[0] = '\0';
}

/* Each exec gets a directory of its own for its console socket (runc names none itself). */
static int console_open(const hcs_exec_files *f, exec_pipes *p, wc_err *err)
{
    snprintf(p->console_dir, sizeof p->console_dir, "%.*s.con", (int)(strlen(f->pid) - 4), f->pid);
    if (mkdir(p->console_dir, 0700) < 0) {
        int e = errno;
        p->console_dir[0] = '\0';
        return wc_err_sys(err, WC_INTERNAL, e, "cannot create a console directory");
    }
    return hcs_console_listen(p->console_dir, &p->listen_fd, &p->console_path, err);
}

static int pipes_open(const hcs_exec_files *f, const hcs_exec_stdio *io, exec_pipes *p, wc_err *err)
{
    /* Under a TTY runc's own stdio stays ours (captured for its messages). */
    if (io->tty)
        return console_open(f, p, err);
    const int want[3] = {io->want_in, io->want_out, io->want_err};
    for (int i = 0; i < 3; i++)
        if (pipe_stream(p, i, want[i], err) < 0)
            return -1;
    return 0;
}

/* Runs `runc exec --detach`; on success *pid is the process and *console the pty master. */
static int runc_exec_detached(hcs_runtime *rt, const char *id, const hcs_exec_files *f,
                              exec_pipes *p, pid_t *pid, int *console, wc_err *err)
{
    const char *args[] = {"exec", "--detach", "--process", f->process, "--pid-file",
                          f->pid, NULL,       NULL,        NULL,       NULL};
    size_t k = 6;
    if (p->console_path) {
        args[k++] = "--console-socket";
        args[k++] = p->console_path;
    }
    args[k] = id;
    const char **argv = hcs_runc_argv(rt, f->log, args);
    hcs_run_opts o;
    hcs_run_opts_init(&o);
    if (!p->console_path) {
        o.stdin_fd = p->child[0];
        o.stdout_fd = p->child[1];
        o.stderr_fd = p->child[2];
    }
    o.console_listen = p->listen_fd;
    o.max_output = 64 * 1024;
    o.timeout_ms = 60000;
    hcs_run_result res;
    int rc = hcs_run(argv, &o, &res, err);
    free(argv);
    if (rc < 0)
        return -1;
    *pid = read_pid(f->pid);
    if (res.status != 0 || *pid <= 0)
        rc = exec_failed(id, f, &res, err);
    else if (p->console_path && res.console_fd < 0)
        rc = wc_err_set(err, WC_INTERNAL, "exec in container %s: %s sent no terminal", id,
                        rt->binary);
    *console = res.console_fd;
    res.console_fd = -1;
    hcs_run_result_clear(&res);
    return rc;
}

static hcs_exec_proc *proc_new(pid_t pid, int master)
{
    hcs_exec_proc *p = wc_xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    p->pid = pid;
    p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    p->master = master;
    return p;
}

/* Hands the caller its ends: the pipes' parent ends, or dups of the pty master. */
static void give_stdio(exec_pipes *pp, const hcs_exec_stdio *io, int master, int fds[3])
{
    if (io->tty) {
        fds[0] = io->want_in ? fcntl(master, F_DUPFD_CLOEXEC, 0) : -1;
        fds[1] = io->want_out ? fcntl(master, F_DUPFD_CLOEXEC, 0) : -1;
        fds[2] = -1;
        return;
    }
    for (int i = 0; i < 3; i++) {
        fds[i] = pp->parent[i];
        pp->parent[i] = -1;
    }
}

int hcs_exec_start(hcs_runtime *rt, const char *id, const json_t *process, const hcs_exec_stdio *io,
                   int *in_fd, int *out_fd, int *err_fd, hcs_exec_proc **out, wc_err *err)
{
    *in_fd = *out_fd = *err_fd = -1;
    *out = NULL;
    if (!id || !*id || strchr(id, '/'))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "invalid container id \"%s\"", id ? id : "");
    hcs_exec_files f;
    exec_files(rt, &f);
    exec_pipes pp;
    pipes_init(&pp);
    pid_t pid = 0;
    int master = -1;
    int rc = write_process(&f, process, io->tty, err);
    if (rc == 0)
        rc = pipes_open(&f, io, &pp, err);
    if (rc == 0)
        rc = runc_exec_detached(rt, id, &f, &pp, &pid, &master, err);
    exec_files_remove(&f);
    hcs_exec_proc *p = rc == 0 ? proc_new(pid, master) : NULL;
    if (rc < 0) {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
        close_fd(&master);
        pipes_close(&pp);
        return -1;
    }
    int fds[3];
    give_stdio(&pp, io, master, fds);
    pipes_close(&pp);
    *in_fd = fds[0];
    *out_fd = fds[1];
    *err_fd = fds[2];
    *out = p;
    return 0;
}

int hcs_exec_resize(hcs_exec_proc *p, unsigned width, unsigned height)
{
    if (!p || p->master < 0)
        return -1;
    struct winsize ws = {.ws_row = (unsigned short)height, .ws_col = (unsigned short)width};
    return ioctl(p->master, TIOCSWINSZ, &ws);
}

static int decode(int st)
{
    return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 255;
}

int hcs_exec_wait(hcs_exec_proc *p, int *exit_code)
{
    pthread_mutex_lock(&p->mu);
    int reaped = p->reaped;
    pthread_mutex_unlock(&p->mu);
    int st = 0;
    pid_t got = reaped ? p->pid : -1;
    while (!reaped && (got = waitpid(p->pid, &st, 0)) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&p->mu);
    if (!p->reaped) {
        p->reaped = 1;
        p->exit_code = got == p->pid ? decode(st) : -1;
    }
    *exit_code = p->exit_code;
    pthread_mutex_unlock(&p->mu);
    return *exit_code < 0 ? -1 : 0;
}

void hcs_exec_kill(hcs_exec_proc *p)
{
    if (!p)
        return;
    if (p->pidfd >= 0)
        syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0);
    else if (!p->reaped)
        kill(p->pid, SIGKILL);
}

void hcs_exec_free(hcs_exec_proc *p)
{
    if (!p)
        return;
    if (!p->reaped) {
        int code;
        hcs_exec_kill(p);
        hcs_exec_wait(p, &code);
    }
    close_fd(&p->pidfd);
    close_fd(&p->master);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
