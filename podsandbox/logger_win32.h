/* The in-process logger of a container's output (Windows, logs_win32.c): the CRI log written
 * by reader threads in wincrid, attachers' taps, the kept stdin. stdio_win32.c builds the
 * platform's stdio seam (platform.h) on it. */
#ifndef WINCRI_PODSANDBOX_LOGGER_WIN32_H
#define WINCRI_PODSANDBOX_LOGGER_WIN32_H

#include <windows.h>

#include "podsandbox/model.h"

typedef struct pod_logger pod_logger;

/* Starts copying the container's output into its CRI log file. */
pod_logger *pod_logger_start(const char *log_path, int out_fd, int err_fd, wc_err *err);
/* Stops copying now (wincrid is stopping; the container may go on), then frees. */
void pod_logger_free_now(pod_logger *l);
/* Waits until both streams end (the container exited and its output is written), then frees. */
void pod_logger_free_drained(pod_logger *l);
int pod_logger_reopen(pod_logger *l, wc_err *err);
/* An attacher's view of the output: a pipe per wanted stream whose read end the caller gets.
 * The logger copies what it reads into the write ends without blocking and drops (closes) a
 * tap that falls behind rather than stall the log. A tap outlives its logger safely. */
int pod_logger_tap(pod_logger *l, int want_out, int want_err, int *out_fd, int *err_fd,
                   pod_tap **tap, wc_err *err);
/* 1 once both streams ended (the container's output is all in the log). */
int pod_logger_ended(pod_logger *l);
/* The keeper hands a tap's read ends away: drops the attacher's reference without stopping
 * the tap, which lives until its reader goes or the output ends. */
void pod_tap_detach(pod_tap *t);
/* wincrid's side of a keeper's tap: copies of the read ends (taken over), so pod_tap_ended
 * can tell when the keeper closed them and they were read dry. */
pod_tap *pod_tap_probe(HANDLE out_r, HANDLE err_r);
/* The daemon keeps the container's stdin (from hcs_open_stdin) in the logger, which closes
 * it when it is freed (or when another fd, -1 included, is kept); attachers get dups. */
void pod_logger_keep_stdin(pod_logger *l, int fd);
int pod_logger_has_stdin(pod_logger *l);
int pod_logger_dup_stdin(pod_logger *l); /* -1 when there is none */

#endif
