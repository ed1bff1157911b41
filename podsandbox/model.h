/* The pod model's internal types, shared by the verbs (sandbox_*.c, container_*.c). */
#ifndef WINCRI_PODSANDBOX_MODEL_H
#define WINCRI_PODSANDBOX_MODEL_H

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>

#include "common/trash.h"
#include "hcs/runtime.h"
#include "hns/hns.h"
#include "podsandbox/podsandbox.h"

#define POD_ID_LEN 64
/* The longest host name the kernel takes (HOST_NAME_MAX); Windows' limit is lower still. */
#define POD_HOSTNAME_MAX 64

/* POSIX signal numbers as hcs_kill takes them on every platform (Windows maps them). */
enum { POD_SIGKILL = 9, POD_SIGTERM = 15 };

/* Intents: a mutating verb records what it is about to do before its first side effect and
 * clears it with its outcome; recovery (recover.c) finds a crashed verb's intent and rolls it
 * forward or back. Sandboxes: "run", "stop", "remove". Containers: "create", "start",
 * "stop@<deadline, realtime ns>", "remove". */
#define POD_INTENT_MAX 40
#define POD_INTENT_RUN "run"
#define POD_INTENT_CREATE "create"
#define POD_INTENT_START "start"
#define POD_INTENT_STOP "stop"
#define POD_INTENT_REMOVE "remove"

typedef struct pod_cstdio pod_cstdio; /* a container's stdio: the platform's (platform.h) */
typedef struct pod_keeper pod_keeper; /* the stdio keeper (keeper.h, keeper_win32.h) */

/* Locks, outermost first; never take an outer one while holding an inner one:
 *   pod_sandbox.op    one lifecycle operation on the pod (Run's set-up, Stop, Remove, and
 *                     CreateContainer, which must not race Stop/Remove)
 *   pod_container.op  one lifecycle operation on the container (Start, Stop, Remove,
 *                     Reopen, Update, Attach's set-up)
 *   pod_manager.mu    the index arrays, names, references, and every field marked "mu"
 *                     (the exit callback writes those from the backend's thread)
 *   pod_manager.db_mu the SQLite connection
 * Fields without a mark are written only while the record is being built (before it is
 * indexed) and read freely after. */
typedef struct pod_sandbox {
    char id[POD_ID_LEN + 1];
    int refs;                /* mu */
    pthread_mutex_t op;      /* see above */
    pod_sandbox_state state; /* op + mu to write; either to read */
    int64_t created_ns;
    char *handler;
    char *netns;                 /* op; "" for host network */
    char *cni_result;            /* op; "" when not attached */
    char *dir;                   /* <root>/sandboxes/<id>: resolv.conf, hosts, hostname */
    char *ips_json;              /* op; JSON array of strings */
    pod_sandbox_config *config;  /* mu; a reference, replaced whole, never edited */
    int removed;                 /* mu */
    char intent[POD_INTENT_MAX]; /* op; the operation under way as the store has it */
} pod_sandbox;

typedef struct pod_container {
    char id[POD_ID_LEN + 1];
    char sandbox_id[POD_ID_LEN + 1];
    int refs;                                    /* mu */
    pthread_mutex_t op;                          /* see above */
    pthread_cond_t changed;                      /* with mu: broadcast when state changes (exits) */
    pod_container_state state;                   /* mu */
    int64_t created_ns, started_ns, finished_ns; /* mu */
    int exit_code;                               /* mu */
    int exit_known;                              /* mu: exit_code is real, not 255 for lost */
    char *reason;                                /* mu */
    char *message;                               /* mu */
    char *image;
    char *image_id;
    char *image_ref;
    char *log_path;
    int pid;                      /* mu */
    pod_container_config *config; /* mu; a reference, replaced whole, never edited */
    char *spec_json;
    pod_linux_user user;  /* derived from spec_json's process.user */
    pod_cstdio *stdio;    /* op to replace; set under mu too, for the keeper's news */
    int removed;          /* mu */
    int starting;         /* mu; StartContainer in progress: its STARTED event is not out yet */
    int stopped_deferred; /* mu; it exited meanwhile: STOPPED goes out after STARTED */
    uint64_t last_cpu_ns; /* mu; previous stats sample, for the CPU rate */
    int64_t last_cpu_at;  /* mu */
    char intent[POD_INTENT_MAX]; /* op; the operation under way as the store has it */
} pod_container;

typedef struct pod_name {
    char *key;
    char id[POD_ID_LEN + 1];
} pod_name;

struct pod_manager {
    const wc_config *cfg;
    img_store *images;
    const pod_legacy_decoder *legacy;
    hns_network *net;
    hcs_runtime **runtimes; /* one per cfg->handlers[i], NULL if it failed to open */
    sqlite3 *db;
    pthread_mutex_t db_mu;
    pthread_mutex_t mu; /* guards the arrays, refs and fields written by exit callbacks */
    pod_sandbox **sandboxes;
    size_t n_sandboxes;
    pod_container **containers;
    size_t n_containers;
    pod_keeper *keeper;                   /* the stdio keeper's connection; Windows: NULL without */
    struct pod_keeper_entry *keeper_seen; /* what it knew when wincrid started (recovery) */
    size_t n_keeper_seen;
    pod_name *names; /* every live sandbox and container name; guarded by mu */
    size_t n_names;
    char *pod_cidr;
    pthread_mutex_t events_mu;
    pod_event_sub *subs;
    char *sandboxes_dir;  /* <root>/sandboxes */
    char *containers_dir; /* <root>/containers: writable layers */
    char *bundles_dir;    /* <state>/bundles */
    wc_trash *trash;      /* removed layers, bundles and pod dirs, deleted in the background */
};

/* ---- paths from requests (manager.c); '/' and '\\' both separate ---- */
int pod_path_is_absolute(const char *p); /* "/x", "\\x", "C:\\x", "C:/x" */
int pod_path_has_dotdot(const char *p);  /* a ".." component anywhere */

/* ---- sandbox.c ---- */
/* The pod's host name: its config's, else the node's (as containerd does). */
int pod_sandbox_hostname(const pod_sandbox *s, char *buf, size_t len, wc_err *err);

/* ---- store.c: SQLite persistence ---- */
int pod_store_open(pod_manager *pm, wc_err *err);
void pod_store_close(pod_manager *pm);
int pod_store_put_sandbox(pod_manager *pm, const pod_sandbox *s, wc_err *err);
int pod_store_delete_sandbox(pod_manager *pm, const char *id, wc_err *err);
int pod_store_put_container(pod_manager *pm, const pod_container *c, wc_err *err);
int pod_store_delete_container(pod_manager *pm, const char *id, wc_err *err);
int pod_store_load(pod_manager *pm, wc_err *err);
/* 1 when table ("sandboxes" or "containers") has a row of that id, readable or not. */
int pod_store_has_row(pod_manager *pm, const char *table, const char *id);
/* Sets the intent (NULL or "" clears it) and writes the record, under mu. */
int pod_sandbox_record_intent(pod_manager *pm, pod_sandbox *s, const char *intent, wc_err *err);
int pod_container_record_intent(pod_manager *pm, pod_container *c, const char *intent, wc_err *err);

/* ---- manager.c: names ----
 * A pod's name (namespace, name, attempt) and a container's (sandbox, name, attempt) are
 * reserved before any work and held until the record is removed, so of two concurrent calls
 * for one name only one goes ahead. */
char *pod_sandbox_name_key(const pod_sandbox_config *c); /* caller frees */
char *pod_container_name_key(const char *sandbox_id, const pod_container_config *c);
/* 0 when key is now id's (or already was); -1 when another id holds it (copied to holder,
 * which may be NULL). */
int pod_name_reserve(pod_manager *pm, const char *key, const char *id, char holder[POD_ID_LEN + 1]);
/* Gives a reservation up if id holds it. */
void pod_name_release(pod_manager *pm, const char *key, const char *id);

/* ---- manager.c: index, references, look-ups ---- */
/* Looks up by full ID or unique prefix; the result holds a reference. */
pod_sandbox *pod_sandbox_find(pod_manager *pm, const char *id_or_prefix, wc_err *err);
pod_container *pod_container_find(pod_manager *pm, const char *id_or_prefix, wc_err *err);
void pod_sandbox_unref(pod_manager *pm, pod_sandbox *s);
void pod_container_unref(pod_manager *pm, pod_container *c);
/* 1 once its removal is done (or its record deleted, for a container). A verb may find it just
 * before the removal takes it out of the index and then wait for its op lock until the removal
 * is over: after taking the lock it checks this and acts as if it had not been found, so that it
 * neither writes the record back nor removes it twice. */
int pod_sandbox_is_removed(pod_manager *pm, pod_sandbox *s);
int pod_container_is_removed(pod_manager *pm, pod_container *c);
void pod_index_add_sandbox(pod_manager *pm, pod_sandbox *s);
void pod_index_remove_sandbox(pod_manager *pm, pod_sandbox *s);
void pod_index_add_container(pod_manager *pm, pod_container *c);
void pod_index_remove_container(pod_manager *pm, pod_container *c);
/* IDs of the sandbox's containers (caller frees each and the array). */
char **pod_sandbox_container_ids(pod_manager *pm, const char *sandbox_id, size_t *n);
hcs_runtime *pod_runtime_for(pod_manager *pm, const char *handler, wc_err *err);
/* The runtime of the container's sandbox's handler. */
hcs_runtime *pod_runtime_of_container(pod_manager *pm, const pod_container *c, wc_err *err);
int pod_new_id(char out[POD_ID_LEN + 1], wc_err *err);
void pod_sandbox_free(pod_sandbox *s);
void pod_container_free(pod_container *c);
/* Fills the applied user from an OCI spec's process.user (uid, gid, additionalGids). */
void pod_user_from_spec(const char *spec_json, pod_linux_user *out);
void pod_user_clear(pod_linux_user *u);

/* ---- manager.c: exits ---- */
/* Records that the container's init ended, once: a second report (the reaper's and the
 * keeper's both come) changes nothing, except that a known code replaces an unknown one; a
 * report for a removed container (c->removed) changes nothing at all. */
void pod_container_mark_exited(pod_manager *pm, pod_container *c, int known, int exit_code,
                               int64_t finished_ns, int oom_killed);
/* IDs of every container (caller frees each and the array). */
char **pod_container_ids(pod_manager *pm, size_t *n);
/* Calls fn for every container there is, each with its c->op held (a new stdio keeper is
 * handed the containers this way). */
void pod_containers_each(pod_manager *pm, void (*fn)(pod_manager *pm, pod_container *c));

/* ---- container_remove.c ---- */
/* Takes down all of the container but its record: stdio, the backend's container, its
 * writable layer and bundle, its hold on the image. With c->op held or c not indexed. */
int pod_container_reclaim(pod_manager *pm, pod_container *c, wc_err *err);
/* Reclaims and deletes the record of a container that never was (a failed or crashed
 * CreateContainer); failures are logged. */
void pod_container_discard(pod_manager *pm, pod_container *c);

/* ---- sandbox.c: undoing a RunPodSandbox ---- */
void pod_sandbox_roll_back(pod_manager *pm, pod_sandbox *s);

/* ---- container_stop.c ---- */
/* Sends the stop signal, waits up to timeout_s, then SIGKILL; called with c->op held. */
int pod_container_stop_running(pod_manager *pm, pod_container *c, int64_t timeout_s, wc_err *err);

/* ---- events.c ---- */
void pod_events_emit(pod_manager *pm, const char *container_id, const char *sandbox_id,
                     pod_event_type type);
void pod_events_close(pod_manager *pm);

/* ---- recover.c ---- */
void pod_recover(pod_manager *pm);

/* ---- attach taps (stdio_*.c) ---- */
/* An attacher's view of the output (platform.h, pod_platform_stdio_tap). */
typedef struct pod_tap pod_tap;
/* 1 once the tap was dropped (its reader fell behind) or the container's output ended. */
int pod_tap_ended(pod_tap *t);
/* Frees the caller's side. */
void pod_tap_free(pod_tap *t);
/* Sets the terminal size through a descriptor of the container's terminal. */
int pod_tty_resize(int tty_fd, unsigned width, unsigned height);

#endif
