/* The streaming server's backend over the pod model: exec'd processes, attachments and
 * port-forward connections come from podsandbox/, and the RPC handlers' checks ask it too. */
#include <stdlib.h>

#include "cri/daemon.h"
#include "common/xalloc.h"
#include "cri/streaming.h"
#include "podsandbox/podsandbox.h"

struct cri_stream_proc {
    pod_exec *exec; /* one of the two */
    pod_attach *attach;
};

static void io_from(const pod_stdio *p, cri_stream_io *io)
{
    io->in = p->in;
    io->out = p->out;
    io->err = p->err;
}

static int be_exec(void *ctx, const char *id, const char *const *cmd, size_t n_cmd, int tty,
                   int want_in, int want_out, int want_err, cri_stream_io *io,
                   cri_stream_proc **proc, wc_err *err)
{
    pod_stdio p = {.tty = tty, .want_in = want_in, .want_out = want_out, .want_err = want_err};
    cri_stream_proc *sp = wc_xcalloc(1, sizeof *sp);
    if (pod_container_exec_start(ctx, id, cmd, n_cmd, &p, &sp->exec, err) < 0) {
        free(sp);
        return -1;
    }
    io_from(&p, io);
    *proc = sp;
    return 0;
}

static int be_attach(void *ctx, const char *id, int tty, int want_in, int want_out, int want_err,
                     cri_stream_io *io, cri_stream_proc **proc, wc_err *err)
{
    pod_stdio p = {.tty = tty, .want_in = want_in, .want_out = want_out, .want_err = want_err};
    cri_stream_proc *sp = wc_xcalloc(1, sizeof *sp);
    if (pod_container_attach(ctx, id, &p, &sp->attach, err) < 0) {
        free(sp);
        return -1;
    }
    io_from(&p, io);
    *proc = sp;
    return 0;
}

static int be_resize(cri_stream_proc *p, unsigned width, unsigned height)
{
    return p->exec ? pod_exec_resize(p->exec, width, height)
                   : pod_attach_resize(p->attach, width, height);
}

static int be_wait(cri_stream_proc *p, int *exit_code)
{
    return p->exec ? pod_exec_wait(p->exec, exit_code) : pod_attach_wait(p->attach, exit_code);
}

/* The client went away: an exec'd process dies with it, an attachment just ends. */
static void be_kill(cri_stream_proc *p)
{
    if (p->exec)
        pod_exec_kill(p->exec);
    else
        pod_attach_detach(p->attach);
}

static void be_stdin_closed(cri_stream_proc *p)
{
    if (p->attach)
        pod_attach_stdin_closed(p->attach);
}

static void be_release(cri_stream_proc *p)
{
    pod_exec_free(p->exec);
    pod_attach_free(p->attach);
    free(p);
}

static int be_port_forward(void *ctx, const char *sandbox_id, int port, int *fd, wc_err *err)
{
    return pod_sandbox_port_forward(ctx, sandbox_id, port, fd, err);
}

void wincri_stream_backend(wincri *d, cri_stream_backend *b)
{
    *b = (cri_stream_backend){.exec = be_exec,
                              .attach = be_attach,
                              .resize = be_resize,
                              .wait = be_wait,
                              .kill = be_kill,
                              .stdin_closed = be_stdin_closed,
                              .release = be_release,
                              .port_forward = be_port_forward,
                              .ctx = d->pods};
}

cri_streaming *wincri_streaming(wincri *d)
{
    return d->streaming;
}

/* What the model says before a URL is handed out: the container runs, the sandbox is ready. */
int wincri_stream_check(wincri *d, const cri_stream_request *req, wc_err *err)
{
    if (req->kind == CRI_STREAM_PORTFORWARD) {
        pod_sandbox_info *s = NULL;
        if (pod_sandbox_get(d->pods, req->id, &s, err) < 0)
            return -1;
        int ready = s->state == POD_SANDBOX_READY;
        pod_sandbox_info_free(s);
        if (!ready)
            return wc_err_set(err, WC_FAILED_PRECONDITION, "pod sandbox %s is not ready", req->id);
        return 0;
    }
    pod_container_info *c = NULL;
    if (pod_container_get(d->pods, req->id, &c, err) < 0)
        return -1;
    int running = c->state == POD_CONTAINER_RUNNING;
    pod_container_info_free(c);
    if (!running)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "container %s is not running", req->id);
    return 0;
}
