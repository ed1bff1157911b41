/* A pod's shared PID namespace (PID mode POD), kept alive by a holder process. */
#ifndef WINCRI_PODSANDBOX_PIDNS_H
#define WINCRI_PODSANDBOX_PIDNS_H

#include "common/err.h"

/* wincrid re-executes itself with this single argument to become a holder. */
#define POD_PID_HOLDER_ARG "--pod-pid-holder"

/* The holder's main loop (never returns). */
int pod_pid_holder_main(void);
/* Starts a holder for the pod and records it in the sandbox dir. */
int pod_pid_holder_start(const char *sandbox_dir, wc_err *err);
/* "/proc/<pid>/ns/pid" of the pod's live holder (caller frees), NULL when there is none. */
char *pod_pid_holder_ns(const char *sandbox_dir);
/* Stops the holder if it runs; idempotent. */
void pod_pid_holder_stop(const char *sandbox_dir);

#endif
