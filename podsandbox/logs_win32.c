/* Container output → CRI log file on Windows: one reader thread per stream, each record
 * "<RFC3339Nano> <stream> <F|P> <text>", lines longer than POD_LOG_LINE_MAX split into P
 * (partial) records ending with an F. The file is opened with FILE_SHARE_DELETE as well as
 * read/write sharing so kubelet can rename it away for rotation and then ask for a reopen.
 * The same bytes go to any attachers' taps (model.h). Windows pipes have no non-blocking
 * write for an anonymous pipe, so each tap has a writer thread fed from a bounded queue: an
 * attacher more than POD_TAP_QUEUE_MAX behind is dropped, and the log never waits. */
#include <windows.h>

#include <fcntl.h>
#include <io.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "podsandbox/logger_win32.h"

#define POD_LOG_LINE_MAX (16 * 1024)
/* How much an attacher may fall behind before it is dropped. */
#define POD_TAP_QUEUE_MAX (1024 * 1024)

/* An attacher's tap: queued bytes per stream, written to its pipes by its own thread. */
struct pod_tap {
    HANDLE wr[2]; /* write ends (stdout, stderr); NULL when not wanted or closed */
    char *q[2];   /* bytes not written yet */
    size_t qlen[2];
    int eof[2]; /* the stream ended: close wr once q is written */
    int stop;   /* dropped or released: close everything now */
    int ended;  /* the writer is done (what an attacher waits for) */
    int refs;   /* the logger's, the attacher's, the writer thread's */
    HANDLE thread;
    HANDLE probe[2]; /* a keeper's tap (pod_tap_probe): copies of the read ends; else NULL */
    CONDITION_VARIABLE cv;
    pod_tap *next;
};

/* Guards every tap and every logger's tap list: taps outlive loggers. */
static SRWLOCK taps_mu = SRWLOCK_INIT;

typedef struct stream {
    pod_logger *owner;
    HANDLE src;
    int fd; /* the CRT descriptor src came from; closing it closes src */
    const char *name;
    char data[POD_LOG_LINE_MAX];
    size_t len;
    HANDLE thread;
} stream;

struct pod_logger {
    char *path;
    int discard; /* "/dev/null": drain only */
    HANDLE file;
    SRWLOCK mu; /* guards file against reopen and stdin_fd; keeps each record whole */
    stream streams[2];
    int stdin_fd;    /* the container's stdin, kept for attachers; -1 */
    pod_tap *taps;   /* guarded by taps_mu */
    int open_out[2]; /* guarded by taps_mu: the stream has not ended */
};

/* ---- taps ---- */

static void tap_free_locked(pod_tap *t)
{
    if (--t->refs > 0)
        return;
    for (int i = 0; i < 2; i++) {
        if (t->wr[i])
            CloseHandle(t->wr[i]);
        if (t->probe[i])
            CloseHandle(t->probe[i]);
        free(t->q[i]);
    }
    if (t->thread)
        CloseHandle(t->thread);
    free(t);
}

/* Drops the tap: its writer closes the pipes (a write blocked on a full pipe is cancelled). */
static void tap_stop_locked(pod_tap *t)
{
    if (t->stop)
        return;
    t->stop = 1;
    WakeAllConditionVariable(&t->cv);
    if (t->thread)
        CancelSynchronousIo(t->thread);
}

static DWORD WINAPI tap_writer(void *arg)
{
    pod_tap *t = arg;
    AcquireSRWLockExclusive(&taps_mu);
    for (;;) {
        int idx = -1;
        for (int i = 0; i < 2 && idx < 0; i++)
            if (t->wr[i] && t->qlen[i])
                idx = i;
        if (t->stop || idx < 0) {
            for (int i = 0; i < 2; i++) /* an ended stream with nothing left: its EOF */
                if (t->wr[i] && (t->stop || (t->eof[i] && !t->qlen[i]))) {
                    CloseHandle(t->wr[i]);
                    t->wr[i] = NULL;
                }
            if (!t->wr[0] && !t->wr[1])
                break;
            SleepConditionVariableSRW(&t->cv, &taps_mu, INFINITE, 0);
            continue;
        }
        char *buf = t->q[idx];
        size_t len = t->qlen[idx];
        HANDLE h = t->wr[idx];
        t->q[idx] = NULL;
        t->qlen[idx] = 0;
        ReleaseSRWLockExclusive(&taps_mu);
        DWORD w = 0;
        BOOL ok = TRUE;
        for (size_t off = 0; ok && off < len; off += w)
            ok = WriteFile(h, buf + off, (DWORD)(len - off), &w, NULL);
        free(buf);
        AcquireSRWLockExclusive(&taps_mu);
        if (!ok) /* the attacher went away */
            tap_stop_locked(t);
    }
    t->ended = 1;
    tap_free_locked(t);
    ReleaseSRWLockExclusive(&taps_mu);
    return 0;
}

/* Queues output for every tap; one too far behind is dropped. Caller holds nothing. */
static void fan_out(pod_logger *l, int idx, const char *data, size_t n)
{
    AcquireSRWLockExclusive(&taps_mu);
    for (pod_tap **pp = &l->taps; *pp;) {
        pod_tap *t = *pp;
        if (t->stop || t->ended) {
            *pp = t->next;
            tap_free_locked(t);
            continue;
        }
        if (t->wr[idx]) {
            if (t->qlen[idx] + n > POD_TAP_QUEUE_MAX) {
                wc_debug("pod", "dropping a slow attacher", "path=%s", l->path);
                tap_stop_locked(t);
            } else {
                t->q[idx] = wc_xrealloc(t->q[idx], t->qlen[idx] + n);
                memcpy(t->q[idx] + t->qlen[idx], data, n);
                t->qlen[idx] += n;
                WakeAllConditionVariable(&t->cv);
            }
        }
        pp = &t->next;
    }
    ReleaseSRWLockExclusive(&taps_mu);
}

/* A stream of the container ended: its taps see EOF once their queue is written. */
static void fan_out_end(pod_logger *l, int idx)
{
    AcquireSRWLockExclusive(&taps_mu);
    l->open_out[idx] = 0;
    for (pod_tap *t = l->taps; t; t = t->next) {
        t->eof[idx] = 1;
        WakeAllConditionVariable(&t->cv);
    }
    ReleaseSRWLockExclusive(&taps_mu);
}

static void taps_free(pod_logger *l)
{
    AcquireSRWLockExclusive(&taps_mu);
    while (l->taps) {
        pod_tap *t = l->taps;
        l->taps = t->next;
        tap_stop_locked(t);
        tap_free_locked(t);
    }
    ReleaseSRWLockExclusive(&taps_mu);
}

static int tap_pipe(int *rd, HANDLE *wr, wc_err *err)
{
    HANDLE r = NULL, w = NULL;
    if (!CreatePipe(&r, &w, NULL, 64 * 1024))
        return wc_err_set(err, WC_INTERNAL, "cannot create an attach pipe (Win32 error %lu)",
                          GetLastError());
    *rd = _open_osfhandle((intptr_t)r, _O_RDONLY | _O_BINARY);
    if (*rd < 0) {
        CloseHandle(r);
        CloseHandle(w);
        return wc_err_set(err, WC_INTERNAL, "cannot open an attach pipe");
    }
    *wr = w;
    return 0;
}

int pod_logger_tap(pod_logger *l, int want_out, int want_err, int *out_fd, int *err_fd,
                   pod_tap **tap, wc_err *err)
{
    *out_fd = *err_fd = -1;
    *tap = NULL;
    pod_tap *t = wc_xcalloc(1, sizeof *t);
    InitializeConditionVariable(&t->cv);
    if ((want_out && tap_pipe(out_fd, &t->wr[0], err) < 0) ||
        (want_err && tap_pipe(err_fd, &t->wr[1], err) < 0)) {
        for (int i = 0; i < 2; i++)
            if (t->wr[i])
                CloseHandle(t->wr[i]);
        if (*out_fd >= 0)
            _close(*out_fd);
        *out_fd = -1;
        free(t);
        return -1;
    }
    t->refs = 3; /* logger, attacher, writer */
    AcquireSRWLockExclusive(&taps_mu);
    for (int i = 0; i < 2; i++)
        t->eof[i] = !l->open_out[i]; /* a stream that is over: EOF at once */
    t->thread = CreateThread(NULL, 0, tap_writer, t, 0, NULL);
    if (!t->thread) {
        t->refs = 1;
        tap_free_locked(t);
        ReleaseSRWLockExclusive(&taps_mu);
        if (*out_fd >= 0)
            _close(*out_fd);
        if (*err_fd >= 0)
            _close(*err_fd);
        *out_fd = *err_fd = -1;
        return wc_err_set(err, WC_RESOURCE_EXHAUSTED, "cannot start an attach writer");
    }
    t->next = l->taps;
    l->taps = t;
    ReleaseSRWLockExclusive(&taps_mu);
    *tap = t;
    return 0;
}

/* A keeper's tap ends when its writer closed the pipe and everything in it was read. */
static int probe_ended(HANDLE h)
{
    DWORD avail = 0;
    return !h || (!PeekNamedPipe(h, NULL, 0, NULL, &avail, NULL) && avail == 0);
}

pod_tap *pod_tap_probe(HANDLE out_r, HANDLE err_r)
{
    pod_tap *t = wc_xcalloc(1, sizeof *t);
    t->probe[0] = out_r;
    t->probe[1] = err_r;
    t->refs = 1;
    t->stop = 1; /* nothing to write here: the keeper writes */
    return t;
}

void pod_tap_detach(pod_tap *t)
{
    AcquireSRWLockExclusive(&taps_mu);
    tap_free_locked(t);
    ReleaseSRWLockExclusive(&taps_mu);
}

int pod_tap_ended(pod_tap *t)
{
    if (t->probe[0] || t->probe[1])
        return probe_ended(t->probe[0]) && probe_ended(t->probe[1]);
    AcquireSRWLockShared(&taps_mu);
    int ended = t->ended;
    ReleaseSRWLockShared(&taps_mu);
    return ended;
}

void pod_tap_free(pod_tap *t)
{
    if (!t)
        return;
    AcquireSRWLockExclusive(&taps_mu);
    tap_stop_locked(t);
    tap_free_locked(t);
    ReleaseSRWLockExclusive(&taps_mu);
}

static void timestamp(char *out, size_t cap)
{
    int64_t ns = wc_clock_realtime_ns();
    char base[40];
    wc_clock_format_utc(ns, base, sizeof base); /* ...T00:00:00.123Z */
    snprintf(out, cap, "%.19s.%09lldZ", base, (long long)(ns % 1000000000LL));
}

static void write_record(pod_logger *l, const char *stream_name, char tag, const char *text,
                         size_t len)
{
    if (l->discard)
        return;
    char ts[48];
    timestamp(ts, sizeof ts);
    size_t cap = len + 96;
    char *rec = wc_xmalloc(cap);
    int head = snprintf(rec, cap, "%s %s %c ", ts, stream_name, tag);
    memcpy(rec + head, text, len);
    rec[head + len] = '\n';
    DWORD total = (DWORD)(head + len + 1), written = 0;
    AcquireSRWLockExclusive(&l->mu);
    if (l->file != INVALID_HANDLE_VALUE && !WriteFile(l->file, rec, total, &written, NULL))
        wc_warn("pod", "cannot write container log", "path=%s error=%lu", l->path, GetLastError());
    ReleaseSRWLockExclusive(&l->mu);
    free(rec);
}

/* Emits every complete line in the buffer, and a partial record when it is full. */
static void flush_lines(stream *s, int at_eof)
{
    size_t start = 0;
    for (size_t i = 0; i < s->len; i++) {
        if (s->data[i] == '\n') {
            write_record(s->owner, s->name, 'F', s->data + start, i - start);
            start = i + 1;
        }
    }
    size_t rest = s->len - start;
    if (rest == sizeof s->data || (at_eof && rest > 0)) {
        write_record(s->owner, s->name, at_eof ? 'F' : 'P', s->data + start, rest);
        rest = 0;
        start = s->len;
    }
    memmove(s->data, s->data + start, rest);
    s->len = rest;
}

static DWORD WINAPI stream_main(void *arg)
{
    stream *s = arg;
    DWORD n;
    int idx = s == &s->owner->streams[0] ? 0 : 1;
    while (ReadFile(s->src, s->data + s->len, (DWORD)(sizeof s->data - s->len), &n, NULL) &&
           n > 0) {
        fan_out(s->owner, idx, s->data + s->len, n);
        s->len += n;
        flush_lines(s, 0);
    }
    flush_lines(s, 1); /* end of stream (or stop): what is left is a last record */
    fan_out_end(s->owner, idx);
    return 0;
}

/* Appending opens; FILE_APPEND_DATA without FILE_WRITE_DATA makes every write land at the
 * end even after kubelet truncates or replaces the file. */
static HANDLE open_log(const char *path)
{
    return CreateFileA(path, FILE_APPEND_DATA | SYNCHRONIZE,
                       FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_ALWAYS,
                       FILE_ATTRIBUTE_NORMAL, NULL);
}

static void stream_start(pod_logger *l, stream *s, int fd, const char *name)
{
    s->owner = l;
    s->fd = fd;
    s->name = name;
    s->src = fd >= 0 ? (HANDLE)_get_osfhandle(fd) : INVALID_HANDLE_VALUE;
    if (s->src != INVALID_HANDLE_VALUE)
        s->thread = CreateThread(NULL, 0, stream_main, s, 0, NULL);
}

pod_logger *pod_logger_start(const char *log_path, int out_fd, int err_fd, wc_err *err)
{
    pod_logger *l = wc_xcalloc(1, sizeof *l);
    l->path = wc_xstrdup(log_path);
    l->discard = strcmp(log_path, "/dev/null") == 0 || _stricmp(log_path, "NUL") == 0;
    l->file = l->discard ? INVALID_HANDLE_VALUE : open_log(log_path);
    if (!l->discard && l->file == INVALID_HANDLE_VALUE) {
        wc_err_set(err, WC_INTERNAL, "cannot open container log %s (Win32 error %lu)", log_path,
                   GetLastError());
        free(l->path);
        free(l);
        return NULL;
    }
    InitializeSRWLock(&l->mu);
    l->stdin_fd = -1;
    l->open_out[0] = out_fd >= 0;
    l->open_out[1] = err_fd >= 0;
    stream_start(l, &l->streams[0], out_fd, "stdout");
    stream_start(l, &l->streams[1], err_fd, "stderr");
    return l;
}

int pod_logger_reopen(pod_logger *l, wc_err *err)
{
    if (l->discard)
        return 0;
    HANDLE h = open_log(l->path);
    if (h == INVALID_HANDLE_VALUE)
        return wc_err_set(err, WC_INTERNAL, "cannot reopen container log %s (Win32 error %lu)",
                          l->path, GetLastError());
    AcquireSRWLockExclusive(&l->mu);
    HANDLE old = l->file;
    l->file = h;
    ReleaseSRWLockExclusive(&l->mu);
    CloseHandle(old);
    return 0;
}

static void free_logger(pod_logger *l)
{
    taps_free(l);
    if (l->stdin_fd >= 0)
        _close(l->stdin_fd);
    for (int i = 0; i < 2; i++) {
        if (l->streams[i].thread)
            CloseHandle(l->streams[i].thread);
        if (l->streams[i].fd >= 0)
            _close(l->streams[i].fd);
    }
    if (l->file != INVALID_HANDLE_VALUE)
        CloseHandle(l->file);
    free(l->path);
    free(l);
}

void pod_logger_free_now(pod_logger *l)
{
    if (!l)
        return;
    /* A reader blocked in ReadFile is released by cancelling its synchronous I/O. */
    for (int i = 0; i < 2; i++) {
        stream *s = &l->streams[i];
        if (!s->thread)
            continue;
        while (WaitForSingleObject(s->thread, 50) == WAIT_TIMEOUT)
            CancelSynchronousIo(s->thread);
    }
    free_logger(l);
}

void pod_logger_free_drained(pod_logger *l)
{
    if (!l)
        return;
    for (int i = 0; i < 2; i++)
        if (l->streams[i].thread)
            WaitForSingleObject(l->streams[i].thread, INFINITE);
    free_logger(l);
}

int pod_logger_ended(pod_logger *l)
{
    AcquireSRWLockShared(&taps_mu);
    int ended = !l->open_out[0] && !l->open_out[1];
    ReleaseSRWLockShared(&taps_mu);
    return ended;
}

/* ---- the container's stdin, kept for attachers ---- */

void pod_logger_keep_stdin(pod_logger *l, int fd)
{
    AcquireSRWLockExclusive(&l->mu);
    if (l->stdin_fd >= 0)
        _close(l->stdin_fd);
    l->stdin_fd = fd;
    ReleaseSRWLockExclusive(&l->mu);
}

int pod_logger_has_stdin(pod_logger *l)
{
    AcquireSRWLockShared(&l->mu);
    int has = l->stdin_fd >= 0;
    ReleaseSRWLockShared(&l->mu);
    return has;
}

int pod_logger_dup_stdin(pod_logger *l)
{
    AcquireSRWLockShared(&l->mu);
    int fd = l->stdin_fd >= 0 ? _dup(l->stdin_fd) : -1;
    ReleaseSRWLockShared(&l->mu);
    return fd;
}

/* A Windows container's console is HCS's (HcsModifyProcess ConsoleSize on its init process);
 * an attacher holds only a descriptor of its stdin, through which no size can be set. */
int pod_tty_resize(int tty_fd, unsigned width, unsigned height)
{
    (void)tty_fd;
    (void)width;
    (void)height;
    return -1;
}
