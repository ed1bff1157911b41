/* Exit statuses of processes that are not our children (Linux: hcs/procexit_linux.c). */
#ifndef WINCRI_HCS_PROCEXIT_H
#define WINCRI_HCS_PROCEXIT_H

#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

typedef struct hcs_procexit hcs_procexit;

/* Subscribes to every process exit on the node. */
int hcs_procexit_open(hcs_procexit **out, wc_err *err);
void hcs_procexit_close(hcs_procexit *p);
/* A descriptor to poll: readable when exits are queued. */
int hcs_procexit_fd(const hcs_procexit *p);
/* Reads the queued exits into the recent-exits table. -1 when the kernel dropped some (the
 * caller should not trust "not seen" for pids that ended meanwhile). */
int hcs_procexit_drain(hcs_procexit *p);
/* pid's wait status (as waitpid gives it) and when it was seen, if its exit is in the table:
 * 1 found (and forgotten), 0 not seen. p may be NULL (never seen). */
int hcs_procexit_take(hcs_procexit *p, pid_t pid, int *wait_status, int64_t *at_ns);

#endif
