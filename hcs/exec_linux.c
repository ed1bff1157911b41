/* hcs_exec_sync: `runc exec --process <file>` with its output collected through pipes. runc
 * exec waits for the process and exits with its status, so the exit code is runc's. On a
 * timeout the process itself (its pid comes from --pid-file) is killed; runc then returns. */
#include "hcs/runtime_linux.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static int write_process(const hcs_exec_files *f, const json_t *process, wc_err *err)
{
    json_t *doc = json_deep_copy(process);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return wc_err_set(err, WC_INVALID_ARGUMENT, "exec: the process must be an object");
    }
    /* Collected output cannot go through a terminal. */
    json_object_set_new(doc, "terminal", json_false());
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
    if (write_process(&f, process, err) < 0)
        return -1;
    const char *args[] = {"exec", "--process", f.process, "--pid-file", f.pid, id, NULL};
    const char **argv = hcs_runc_argv(rt, f.log, args);
    if (!argv) {
        exec_files_remove(&f);
        return wc_err_set(err, WC_RESOURCE_EXHAUSTED, "out of memory");
    }
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

void hcs_exec_result_clear(hcs_exec_result *r)
{
    if (!r)
        return;
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}
