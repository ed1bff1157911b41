/* Container output → CRI log file on Windows: one reader thread per stream, each record
 * "<RFC3339Nano> <stream> <F|P> <text>", lines longer than POD_LOG_LINE_MAX split into P
 * (partial) records ending with an F. The file is opened with FILE_SHARE_DELETE as well as
 * read/write sharing so kubelet can rename it away for rotation and then ask for a reopen. */
#include <windows.h>

#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "podsandbox/model.h"

#define POD_LOG_LINE_MAX (16 * 1024)

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
    SRWLOCK mu; /* guards file against reopen; keeps each record whole */
    stream streams[2];
};

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
    char *rec = malloc(cap);
    if (!rec)
        return;
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
    while (ReadFile(s->src, s->data + s->len, (DWORD)(sizeof s->data - s->len), &n, NULL) &&
           n > 0) {
        s->len += n;
        flush_lines(s, 0);
    }
    flush_lines(s, 1); /* end of stream (or stop): what is left is a last record */
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
    pod_logger *l = calloc(1, sizeof *l);
    l->path = strdup(log_path);
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

/* ---- attach: not yet on Windows (the readers above would feed the taps) ---- */

int pod_logger_tap(pod_logger *l, int want_out, int want_err, int *out_fd, int *err_fd,
                   pod_tap **tap, wc_err *err)
{
    (void)l;
    (void)want_out;
    (void)want_err;
    *out_fd = *err_fd = -1;
    *tap = NULL;
    return wc_err_set(err, WC_UNIMPLEMENTED, "attach not yet on Windows");
}

int pod_tap_ended(pod_tap *t)
{
    (void)t;
    return 1;
}

void pod_tap_free(pod_tap *t)
{
    (void)t;
}

void pod_logger_keep_stdin(pod_logger *l, int fd)
{
    (void)l;
    if (fd >= 0)
        _close(fd);
}

int pod_logger_has_stdin(pod_logger *l)
{
    (void)l;
    return 0;
}

int pod_logger_dup_stdin(pod_logger *l)
{
    (void)l;
    return -1;
}

int pod_tty_resize(int tty_fd, unsigned width, unsigned height)
{
    (void)tty_fd;
    (void)width;
    (void)height;
    return -1;
}
