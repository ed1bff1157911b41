/* Std streams of Windows containers and their processes. The pod model opens a container's
 * output before start, so each stream goes through a pipe of our own made at create, and a
 * pump thread per stream copies HCS's pipe into it once the process runs. exec_sync's output
 * is collected into memory by a collector thread per stream. */
#include <fcntl.h>
#include <io.h>
#include <stdlib.h>
#include <string.h>

#include "common/handle_win32.h"
#include "common/xalloc.h"
#include "hcs/runtime_win32.h"

#define PUMP_BUF (64 * 1024)
#define PUMP_JOIN_MS 1000 /* a pump nobody drains is cancelled after this */

void hcs_handle_close(HANDLE *h)
{
    if (*h && *h != INVALID_HANDLE_VALUE)
        CloseHandle(*h);
    *h = NULL;
}

/* Waits for a reading or writing thread; past wait_ms its blocking call is cancelled. */
static void join_cancelling(HANDLE *thread, DWORD wait_ms)
{
    if (*thread && WaitForSingleObject(*thread, wait_ms) != WAIT_OBJECT_0) {
        CancelSynchronousIo(*thread);
        WaitForSingleObject(*thread, INFINITE);
    }
    hcs_handle_close(thread);
}

/* ---- pumps ---------------------------------------------------------------------------- */

static int write_all(HANDLE h, const char *buf, DWORD n)
{
    DWORD w;
    for (DWORD off = 0; off < n; off += w)
        if (!WriteFile(h, buf + off, n - off, &w, NULL))
            return -1;
    return 0;
}

static DWORD WINAPI pump_main(void *arg)
{
    hcs_pump *p = arg;
    char *buf = wc_xmalloc(PUMP_BUF);
    DWORD n;
    while (ReadFile(p->src, buf, PUMP_BUF, &n, NULL) && n > 0)
        if (write_all(p->dst, buf, n) < 0)
            break;
    free(buf);
    hcs_handle_close(&p->src);
    hcs_handle_close(&p->dst); /* the reader sees the end of the stream */
    return 0;
}

/* Takes ownership of src and dst. */
static void pump_start(hcs_pump *p, HANDLE src, HANDLE dst)
{
    p->src = src;
    p->dst = dst;
    p->thread = CreateThread(NULL, 0, pump_main, p, 0, NULL);
    if (!p->thread) {
        hcs_handle_close(&p->src);
        hcs_handle_close(&p->dst);
    }
}

/* ---- a container's streams ------------------------------------------------------------ */

int hcs_stdio_make(hcs_stdio *s, const hcs_io *io, const char *ctr_id, wc_err *err)
{
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, FALSE};
    int ok = CreatePipe(&s->out_r, &s->out_w, &sa, 0);
    if (ok && !io->terminal)
        ok = CreatePipe(&s->err_r, &s->err_w, &sa, 0);
    if (ok && io->open_stdin)
        ok = CreatePipe(&s->in_r, &s->in_w, &sa, 0);
    if (!ok)
        return wc_err_set(err, WC_INTERNAL, "container %s: cannot create std pipes (error %lu)",
                          ctr_id, GetLastError());
    return 0;
}

void hcs_stdio_connect(hcs_stdio *s, HANDLE std[3])
{
    if (s->keep) {
        for (int i = 0; i < 3; i++)
            s->kept[i] = std[i];
        hcs_stdio_abandon(s);
        return;
    }
    pump_start(&s->pumps[1], std[1], s->out_w);
    s->out_w = NULL;
    if (std[2]) {
        pump_start(&s->pumps[2], std[2], s->err_w);
        s->err_w = NULL;
    }
    if (std[0] && s->in_r) {
        pump_start(&s->pumps[0], s->in_r, std[0]);
        s->in_r = NULL;
    } else if (std[0]) {
        CloseHandle(std[0]);
    }
}

void hcs_stdio_abandon(hcs_stdio *s)
{
    hcs_handle_close(&s->out_w);
    hcs_handle_close(&s->err_w);
    hcs_handle_close(&s->in_r);
}

void hcs_stdio_close(hcs_stdio *s)
{
    for (int i = 0; i < 3; i++)
        join_cancelling(&s->pumps[i].thread, PUMP_JOIN_MS);
    HANDLE *hs[] = {&s->out_r, &s->out_w,   &s->err_r,   &s->err_w,  &s->in_r,
                    &s->in_w,  &s->kept[0], &s->kept[1], &s->kept[2]};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        hcs_handle_close(hs[i]);
}

int hcs_stdio_open_output(hcs_stdio *s, const char *ctr_id, int *out_fd, int *err_fd, wc_err *err)
{
    *out_fd = wc_fd_of_copy(s->out_r, _O_RDONLY);
    if (s->err_r)
        *err_fd = wc_fd_of_copy(s->err_r, _O_RDONLY);
    if (*out_fd < 0 || (s->err_r && *err_fd < 0)) {
        if (*out_fd >= 0)
            _close(*out_fd);
        *out_fd = *err_fd = -1;
        return wc_err_set(err, WC_INTERNAL, "container %s: cannot open its output", ctr_id);
    }
    return 0;
}

int hcs_stdio_take_stdin(hcs_stdio *s, const char *ctr_id, int *in_fd, wc_err *err)
{
    if (!s->in_w)
        return wc_err_set(err, WC_FAILED_PRECONDITION,
                          "container %s: stdin was already handed out (it closes with its "
                          "only writer)",
                          ctr_id);
    /* Handed over, not duplicated: closing it is the container's end of input. */
    *in_fd = _open_osfhandle((intptr_t)s->in_w, _O_WRONLY | _O_BINARY);
    if (*in_fd < 0)
        return wc_err_set(err, WC_INTERNAL, "container %s: cannot open its stdin", ctr_id);
    s->in_w = NULL;
    return 0;
}

int hcs_fd_own(HANDLE h, int flags)
{
    if (!h)
        return -1;
    int fd = _open_osfhandle((intptr_t)h, flags | _O_BINARY);
    if (fd < 0)
        CloseHandle(h);
    return fd;
}

/* ---- collectors ----------------------------------------------------------------------- */

/* Appends up to what k->max still allows. */
static void collect(hcs_collector *k, const char *buf, size_t n)
{
    size_t keep = k->len + n <= k->max ? n : k->max - k->len;
    if (keep < n)
        k->truncated = 1;
    if (!keep)
        return;
    k->data = wc_xrealloc(k->data, k->len + keep + 1);
    memcpy(k->data + k->len, buf, keep);
    k->len += keep;
    k->data[k->len] = '\0';
}

static DWORD WINAPI collector_main(void *arg)
{
    hcs_collector *k = arg;
    char buf[8192];
    DWORD n;
    while (ReadFile(k->h, buf, sizeof buf, &n, NULL) && n > 0)
        collect(k, buf, n);
    return 0;
}

void hcs_collector_start(hcs_collector *k, HANDLE h, size_t max)
{
    k->h = h;
    k->max = max;
    k->thread = h ? CreateThread(NULL, 0, collector_main, k, 0, NULL) : NULL;
}

void hcs_collector_finish(hcs_collector *k, DWORD drain_ms)
{
    join_cancelling(&k->thread, drain_ms);
    hcs_handle_close(&k->h);
    if (!k->data)
        k->data = wc_xcalloc(1, 1);
}
