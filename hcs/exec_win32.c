/* Processes run in a running container's compute system: exec_sync (output collected into
 * memory, a deadline) and the streaming server's interactive exec (HCS's std pipes handed to
 * the caller as CRT descriptors; HCS itself keeps the process and its exit). */
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "hcs/runtime_win32.h"

#define EXEC_DRAIN_MS 2000       /* after an exec exits, how long its pipes may stay open */
#define EXEC_WAIT_SLICE_MS 500   /* how often a blocked wait looks for a kill */
#define EXEC_KILL_GRACE_MS 10000 /* after a kill, how long wait trusts HCS to report the exit */

/* Starts an OCI process object in the container; std gets the pipes pio asks for. */
static int process_start(hcs_ctr *c, const json_t *process, const hcs_process_io *pio,
                         hcs_process **out, HANDLE std[3], wc_err *err)
{
    json_t *params = NULL;
    if (hcs_doc_process(process, pio, &params, err) < 0)
        return -1;
    int rc = hcs_process_create(c->sys, params, HCS_DEFAULT_TIMEOUT_MS, out, std, err);
    json_decref(params);
    return rc;
}

/* ---- exec_sync ------------------------------------------------------------------------ */

/* Waits up to timeout_ms (0: no limit); past it the process is terminated and *timed_out
 * set, which is not an error. */
static int wait_or_terminate(hcs_process *p, int64_t timeout_ms, hcs_process_status *st,
                             int *timed_out, wc_err *err)
{
    DWORD wait = timeout_ms > 0 ? (DWORD)timeout_ms : INFINITE;
    int rc = hcs_process_wait(p, wait, st, err);
    if (rc < 0 && err->code == WC_DEADLINE_EXCEEDED) {
        wc_err_clear(err);
        *timed_out = 1;
        wc_err ignored = {0};
        hcs_process_terminate(p, HCS_DEFAULT_TIMEOUT_MS, &ignored);
        rc = 0;
    }
    return rc;
}

/* Moves the collected output into the result. */
static void take_output(hcs_exec_result *out, const hcs_collector *ko, const hcs_collector *ke,
                        const hcs_process_status *st)
{
    out->out = ko->data;
    out->out_len = ko->len;
    out->err = ke->data;
    out->err_len = ke->len;
    out->truncated = ko->truncated || ke->truncated;
    out->exit_code = out->timed_out ? -1 : (int)st->exit_code;
}

int hcs_exec_sync(hcs_runtime *rt, const char *id, const json_t *process, int64_t timeout_ms,
                  size_t max_output, hcs_exec_result *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    hcs_ctr *c;
    if (hcs_ctr_find_or_fail(rt, id, &c, err) < 0)
        return -1;
    if (c->job)
        return hcs_job_exec_sync(c, process, timeout_ms, max_output, out, err);
    hcs_process_io pio = {.stdout_pipe = 1, .stderr_pipe = 1};
    hcs_process *p = NULL;
    HANDLE std[3];
    if (process_start(c, process, &pio, &p, std, err) < 0)
        return -1;
    hcs_handle_close(&std[0]);
    hcs_collector ko = {0}, ke = {0};
    hcs_collector_start(&ko, std[1], max_output);
    hcs_collector_start(&ke, std[2], max_output);
    hcs_process_status st = {0};
    int rc = wait_or_terminate(p, timeout_ms, &st, &out->timed_out, err);
    hcs_collector_finish(&ko, EXEC_DRAIN_MS);
    hcs_collector_finish(&ke, EXEC_DRAIN_MS);
    hcs_process_close(p);
    take_output(out, &ko, &ke, &st);
    if (rc < 0)
        hcs_exec_result_clear(out);
    return rc;
}

/* ---- interactive exec ------------------------------------------------------------------ */

/* Closing the stdin descriptor is the process's end of input. */
struct hcs_exec_proc {
    hcs_process *proc;
    HANDLE job_proc; /* a HostProcess container's: the process itself (proc is NULL) */
    char id[128];
    int tty;
    volatile LONG killed;
    int64_t killed_ns;
    volatile LONG done; /* wait() has seen the exit */
};

static void close_fds(int *fds[3])
{
    for (int i = 0; i < 3; i++) {
        if (*fds[i] >= 0)
            _close(*fds[i]);
        *fds[i] = -1;
    }
}

/* CRT descriptors owning the process's pipes (stdin, stdout, stderr; -1 where there is
 * none). When one cannot be made, all are closed and -1 returned. */
static int own_pipes(HANDLE std[3], int *fds[3])
{
    static const int flags[3] = {_O_WRONLY, _O_RDONLY, _O_RDONLY};
    int failed = 0;
    for (int i = 0; i < 3; i++) {
        *fds[i] = hcs_fd_own(std[i], flags[i]);
        failed |= std[i] && *fds[i] < 0;
    }
    if (failed)
        close_fds(fds);
    return failed ? -1 : 0;
}

/* The pipes HCS is asked for. Under a TTY the console carries both streams: HCS gives no
 * separate stderr pipe. */
static hcs_process_io exec_pipes(const hcs_exec_stdio *stdio)
{
    hcs_process_io pio = {.stdin_pipe = stdio->want_in,
                          .stdout_pipe = stdio->want_out,
                          .stderr_pipe = stdio->want_err && !stdio->tty};
    return pio;
}

int hcs_exec_start(hcs_runtime *rt, const char *id, const json_t *process,
                   const hcs_exec_stdio *stdio, int *in_fd, int *out_fd, int *err_fd,
                   hcs_exec_proc **out, wc_err *err)
{
    int *fds[3] = {in_fd, out_fd, err_fd};
    *in_fd = *out_fd = *err_fd = -1;
    *out = NULL;
    hcs_ctr *c;
    if (hcs_ctr_find_or_fail(rt, id, &c, err) < 0)
        return -1;
    if ((!c->sys && !c->job) || !c->started || c->exited)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "exec: container %s is not running", id);
    hcs_process_io pio = exec_pipes(stdio);
    hcs_exec_proc *p = wc_xcalloc(1, sizeof *p);
    HANDLE std[3] = {NULL, NULL, NULL};
    int rc = c->job ? hcs_job_exec_spawn(c, process, stdio, &p->job_proc, std, err)
                    : process_start(c, process, &pio, &p->proc, std, err);
    if (rc < 0) {
        free(p);
        return wc_err_prefix(err, "exec in container %s", id);
    }
    snprintf(p->id, sizeof p->id, "%s", id);
    p->tty = stdio->tty;
    if (own_pipes(std, fds) < 0) {
        hcs_exec_free(p);
        return wc_err_set(err, WC_INTERNAL, "exec in container %s: no descriptor for its pipes",
                          id);
    }
    *out = p;
    return 0;
}

int hcs_exec_resize(hcs_exec_proc *p, unsigned width, unsigned height)
{
    if (!p || !p->tty || p->job_proc) /* a HostProcess exec has pipes, not a console */
        return -1;
    json_t *doc = hcs_doc_process_resize((uint16_t)(width > 0xffff ? 0xffff : width),
                                         (uint16_t)(height > 0xffff ? 0xffff : height));
    wc_err err = {0};
    int rc = doc ? hcs_process_modify(p->proc, doc, HCS_DEFAULT_TIMEOUT_MS, &err) : -1;
    json_decref(doc);
    if (rc < 0)
        wc_debug("hcs", "exec resize failed", "container=%.12s err=\"%s\"", p->id, err.msg);
    return rc;
}

/* Waits in slices so a kill is noticed; after a kill HCS gets a grace period to report the
 * exit, then the wait gives up (the streaming session must be able to end). */
int hcs_exec_wait(hcs_exec_proc *p, int *exit_code)
{
    *exit_code = -1;
    if (p->job_proc) {
        DWORD code;
        WaitForSingleObject(p->job_proc, INFINITE);
        if (!GetExitCodeProcess(p->job_proc, &code))
            return -1;
        *exit_code = (int)code;
        InterlockedExchange(&p->done, 1);
        return 0;
    }
    for (;;) {
        hcs_process_status st = {0};
        wc_err err = {0};
        if (hcs_process_wait(p->proc, EXEC_WAIT_SLICE_MS, &st, &err) == 0) {
            *exit_code = (int)st.exit_code;
            InterlockedExchange(&p->done, 1);
            return 0;
        }
        if (err.code != WC_DEADLINE_EXCEEDED) {
            wc_warn("hcs", "exec wait failed", "container=%.12s err=\"%s\"", p->id, err.msg);
            return -1;
        }
        if (p->killed && hcs_now_ns() - p->killed_ns > (int64_t)EXEC_KILL_GRACE_MS * 1000000)
            return -1;
    }
}

void hcs_exec_kill(hcs_exec_proc *p)
{
    if (!p || p->done)
        return;
    p->killed_ns = hcs_now_ns();
    InterlockedExchange(&p->killed, 1);
    if (p->job_proc) {
        TerminateProcess(p->job_proc, 1);
        return;
    }
    wc_err err = {0};
    if (hcs_process_terminate(p->proc, HCS_DEFAULT_TIMEOUT_MS, &err) < 0)
        wc_warn("hcs", "exec kill failed", "container=%.12s err=\"%s\"", p->id, err.msg);
}

void hcs_exec_free(hcs_exec_proc *p)
{
    if (!p)
        return;
    if (p->proc && !p->done) {
        int code;
        hcs_exec_kill(p);
        hcs_exec_wait(p, &code);
    }
    hcs_process_close(p->proc);
    hcs_handle_close(&p->job_proc);
    free(p);
}
