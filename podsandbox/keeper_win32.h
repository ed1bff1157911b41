/* The stdio keeper on Windows: one small process per node, `wincrid --stdio-keeper <state>`,
 * that holds the HCS pipes of every running container's init process and writes their CRI
 * logs (the same logger wincrid uses in-process, logs_win32.c), so that wincrid can be killed
 * or upgraded while containers run and no line of their output is lost nor a writer broken.
 * wincrid starts it when none answers; it outlives wincrid and exits by itself once it holds
 * nothing and nobody has been connected for a while.
 *
 * Why it holds only stdio (Linux's keeper also records exits): on Windows the compute system
 * and its processes outlive wincrid already, and the new wincrid learns an exit code that
 * happened meanwhile from HCS (HcsOpenProcess, hcs_adopt). What dies with wincrid is the
 * other end of the process's pipes, which HCS gives to the process that created it.
 *
 * wincrid keeps its own copies of the handles it hands over, so a keeper that dies loses
 * nothing but what it had read and not written: the output waits in the pipes until a new
 * keeper, handed every container again (resync), reads it. A wincrid that restarts gets its
 * copies back from the keeper (get).
 *
 * Transport: a message-mode named pipe whose name carries 128 random bits and is written to
 * <state>\keeper\pipe; the state directory is readable by SYSTEM and Administrators only
 * (the installer's ACL), so only they can find the pipe, and the pipe's DACL admits only
 * SYSTEM, Administrators and the keeper's own user. One JSON object per message, at most
 * POD_WKEEPER_MSG_MAX bytes. Requests carry "op"; replies "ok" (and "error", "code" when
 * false). Handles travel as numbers: the sender duplicates each into the receiver's process
 * (wincrid knows the keeper's pid from hello, the keeper wincrid's from the pipe) and the
 * receiver owns them.
 *   hello        {version, pid}                        -> {version, pid}
 *   add          {id, log_path, in, out, err}          -> {}  (handles; 0 for none)
 *   get          {id}                                  -> {in, out, err} (copies; NOT_FOUND)
 *   remove       {id}                                  -> {}  (lets go of everything)
 *   reopen       {id}                                  -> {}  (CRI log rotation)
 *   tap          {id, out, err} (booleans)             -> {out, err} (read ends; 0)
 *   close_stdin  {id}                                  -> {}
 *   ended        {id}                                  -> {ended} (output all in the log)
 *   list         {}                                    -> {ids: [...]} */
#ifndef WINCRI_PODSANDBOX_KEEPER_WIN32_H
#define WINCRI_PODSANDBOX_KEEPER_WIN32_H

#include <windows.h>

#include "common/err.h"

#define POD_WKEEPER_ARG "--stdio-keeper"
#define POD_WKEEPER_VERSION 1

/* The keeper process (cri/main_win32.c runs it for POD_WKEEPER_ARG). */
int pod_wkeeper_main(int argc, char **argv);

typedef struct pod_keeper pod_keeper;

/* A new keeper took over from one that died: hand it every container again. Runs on the
 * connection's watcher thread, where requests work. */
typedef void (*pod_wkeeper_resync_fn)(void *ctx);

/* Connects to the keeper of state_dir, starting one when none answers. */
int pod_wkeeper_connect(const char *state_dir, pod_wkeeper_resync_fn resync, void *ctx,
                        pod_keeper **out, wc_err *err);
void pod_wkeeper_disconnect(pod_keeper *k); /* the keeper goes on */
int pod_wkeeper_connected(pod_keeper *k);

/* std: stdin, stdout, stderr (NULL where none); the caller keeps its handles (the keeper
 * gets copies). */
int pod_wkeeper_add(pod_keeper *k, const char *id, const char *log_path, HANDLE std[3],
                    wc_err *err);
/* Copies of what the keeper holds for id; NOT_FOUND when it holds nothing for it. */
int pod_wkeeper_get(pod_keeper *k, const char *id, HANDLE std[3], wc_err *err);
int pod_wkeeper_remove(pod_keeper *k, const char *id, wc_err *err);
int pod_wkeeper_reopen(pod_keeper *k, const char *id, wc_err *err);
int pod_wkeeper_close_stdin(pod_keeper *k, const char *id, wc_err *err);
/* Read ends of pipes that get the container's output from now on (NULL when not wanted);
 * the keeper closes its ends when the output ends or the reader falls behind. */
int pod_wkeeper_tap(pod_keeper *k, const char *id, int want_out, int want_err, HANDLE *out,
                    HANDLE *err_h, wc_err *err);
/* *ended = 1 once the container's output ended and is all in its log. */
int pod_wkeeper_ended(pod_keeper *k, const char *id, int *ended, wc_err *err);
/* The ids the keeper holds (caller frees each and the array). */
int pod_wkeeper_list(pod_keeper *k, char ***ids, size_t *n, wc_err *err);

#endif
