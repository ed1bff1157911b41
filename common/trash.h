/* Deferred deletion of directory trees. A removal that must free a name at once but need not
 * wait for the files to go (RemoveContainer's writable layer and bundle) renames the tree into
 * <parent>/.trash/ -- one rename on the same filesystem -- and a background thread deletes it.
 * A crash leaves at most a .trash/ with leftovers, which the next wc_trash_open deletes first.
 *
 * Cost: the space comes back a little after the call returns, not before. */
#ifndef WINCRI_COMMON_TRASH_H
#define WINCRI_COMMON_TRASH_H

#include <stddef.h>

#include "common/err.h"

#define WC_TRASH_DIR ".trash"

typedef struct wc_trash wc_trash;
/* Deletes one tree (the platform's recursive removal). */
typedef int (*wc_trash_remove_fn)(const char *path, wc_err *err);

/* Starts the deleting thread; what an earlier run left in <parents[i]>/.trash goes first.
 * NULL when no thread can be started: wc_trash_put then removes in the caller. */
wc_trash *wc_trash_open(wc_trash_remove_fn remove, const char *const *parents, size_t n_parents);
/* Moves path aside and queues it: its name is free when this returns. A path that does not
 * exist is not an error. When the rename fails (another filesystem, a handle open on Windows)
 * or t is NULL, the tree is removed here, before returning, and its failure is returned. */
int wc_trash_put(wc_trash *t, wc_trash_remove_fn remove, const char *path, wc_err *err);
/* Waits until everything queued so far is deleted (tests, benchmarks). */
void wc_trash_settle(wc_trash *t);
/* Stops the thread after the tree it is deleting; what is left waits for the next start. */
void wc_trash_close(wc_trash *t);

#endif
