/* The stdio keeper (Linux): one small process per node that holds every running container's
 * stdio, writes their CRI logs, hands attachers a copy of their output, and records each
 * container's exit the moment it happens, so that wincrid can die (kill -9, upgrade) and come
 * back without a lost log line, a killed container or a lost exit code. It is the wincrid
 * binary run as `wincrid --stdio-keeper <state dir>`, started by wincrid when none answers,
 * in a session of its own so that it outlives wincrid; it exits by itself once it holds
 * nothing and no wincrid has been connected for a while.
 *
 * Why a keeper and not a process per pod: one process and one poll loop serve the node;
 * what must outlive wincrid is descriptors (the FIFOs' ends, terminal masters) and a reader
 * of them, not anything per container.
 *
 * Exit statuses come from the kernel's process connector (hcs/procexit.h) and a pidfd per
 * container, not from being the parent: the container's init stays wincrid's child (or
 * init's after a restart), and the status reaches whichever of wincrid and the keeper is
 * alive. Both hold the stdio: if the keeper dies, wincrid's holds keep the FIFOs and
 * terminals open (output waits in the pipe) and wincrid starts a new keeper and hands every
 * container to it again; if wincrid dies, the keeper goes on.
 *
 * The protocol (version POD_KEEPER_VERSION) on <state>/keeper.sock, a SOCK_SEQPACKET unix
 * socket (0600, root): one JSON object per message, descriptors as SCM_RIGHTS. Requests carry
 * "op" and "seq"; replies echo "seq" with "ok" (and "error" when false); events carry "event".
 *   hello   {version}                            -> {version, pid}
 *   add     {id, log_path, pid, start_time, tty, out, err, in} + fds (those that are true, in
 *           that order; with tty, out is the terminal master) -> {}
 *   remove  {id}                                 -> {} (forgets it, and its exit record)
 *   reopen  {id}                                 -> {} (CRI log rotation)
 *   tap     {id, out, err}                       -> {} + fds: read ends of the wanted streams
 *   close_stdin {id}                             -> {}
 *   pty     {id}                                 -> {} + fds: the terminal master
 *   list    {}                                   -> {containers: [{id, pid, exited,
 *                                                    exit_code, finished_ns}]}
 *   event   exit {id, pid, known, exit_code, finished_ns}: the container's init ended and all
 *           its output that was there is in the log; known is false when the keeper could not
 *           learn the status (the caller keeps its own if it has one).
 * An exit is written to <state>/keeper/<id>.exit (fsync'd) before the event goes out. */
#ifndef WINCRI_PODSANDBOX_KEEPER_H
#define WINCRI_PODSANDBOX_KEEPER_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define POD_KEEPER_ARG "--stdio-keeper"
#define POD_KEEPER_VERSION 1

/* The keeper process (cri/main_linux.c runs it for POD_KEEPER_ARG). */
int pod_keeper_main(int argc, char **argv);

typedef struct pod_keeper_exit {
    char id[65];
    int pid;
    int known;     /* the status below is real */
    int exit_code; /* 128 + signal when killed */
    int64_t finished_ns;
} pod_keeper_exit;

typedef struct pod_keeper pod_keeper;

/* Callbacks run on the connection's own threads; they must not call back into the keeper
 * synchronously except resync, which runs on a thread where requests work. */
typedef struct pod_keeper_client {
    void (*on_exit)(void *ctx, const pod_keeper_exit *e);
    /* A new keeper took over from one that died: hand it every container again. */
    void (*resync)(void *ctx, pod_keeper *k);
    void *ctx;
} pod_keeper_client;

/* Connects to the keeper of state_dir, starting one when none answers. */
int pod_keeper_connect(const char *state_dir, const pod_keeper_client *cb, pod_keeper **out,
                       wc_err *err);
void pod_keeper_disconnect(pod_keeper *k); /* the keeper goes on */
int pod_keeper_pid(const pod_keeper *k);
/* 1 while a keeper answers on the socket, 0 while a new one is being found. */
int pod_keeper_connected(pod_keeper *k);

/* Hands a container's stdio to the keeper: out and err (a terminal's master as out, err -1
 * with tty), in (-1 when none). The descriptors are the caller's still (the keeper gets
 * copies). start_time is the init's start time in clock ticks (/proc/<pid>/stat field 22),
 * so a reused pid is never taken for it. */
int pod_keeper_add(pod_keeper *k, const char *id, const char *log_path, int pid,
                   uint64_t start_time, int tty, int out_fd, int err_fd, int in_fd, wc_err *err);
int pod_keeper_remove(pod_keeper *k, const char *id, wc_err *err);
int pod_keeper_reopen(pod_keeper *k, const char *id, wc_err *err);
/* Read ends of pipes that get the container's output from now on (-1 when not wanted); the
 * keeper closes its ends when the container exits or the reader falls behind. */
int pod_keeper_tap(pod_keeper *k, const char *id, int want_out, int want_err, int *out_fd,
                   int *err_fd, wc_err *err);
int pod_keeper_close_stdin(pod_keeper *k, const char *id, wc_err *err);
int pod_keeper_pty(pod_keeper *k, const char *id, int *fd, wc_err *err);

typedef struct pod_keeper_entry {
    char id[65];
    int pid;
    int exited;
    int exit_code;
    int64_t finished_ns;
} pod_keeper_entry;
int pod_keeper_list(pod_keeper *k, pod_keeper_entry **out, size_t *n, wc_err *err);

/* The start time (clock ticks since boot) of pid, 0 when it is gone. */
uint64_t pod_keeper_start_time(int pid);

#endif
