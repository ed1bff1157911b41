/* The fakes' shared state (fake_backend.h says what they are): one block of memory mapped
 * shared, so a child process's calls are seen by its parent. Every field is guarded by mu
 * (process-shared). */
#ifndef WINCRI_TESTS_FAKE_INT_H
#define WINCRI_TESTS_FAKE_INT_H

#include <pthread.h>

#include "tests/unit/fake_backend.h"

#define FAKE_N 128
#define FAKE_CALLS 8192
#define FAKE_NAME 48
#define FAKE_ID 192

typedef struct fake_ctr {
    int used;
    char id[FAKE_ID];
    char sandbox[FAKE_ID];
    char handler[FAKE_NAME];
    hcs_status status;
    int pid;
    int exit_code;
    int watcher; /* serial of the runtime that reports its exit; 0: none (not ours, or restarted) */
} fake_ctr;

typedef struct fake_ns {
    int used;
    char name[FAKE_ID];
} fake_ns;

/* A CNI attachment (ADD without DEL yet), kept apart from the namespace: removing a namespace
 * without DEL leaks the attachment, as it would leak the address on a real node. */
typedef struct fake_att {
    int used;
    char netns[FAKE_ID];
    char pod[FAKE_ID];
} fake_att;

typedef struct fake_hold {
    int used;
    char holder[FAKE_ID];
    char image[FAKE_ID];
} fake_hold;

typedef struct fake_img {
    int used;
    char ref[FAKE_ID];
    char id[FAKE_ID];
} fake_img;

typedef struct fake_entry {
    int used;
    char id[FAKE_ID];
    int code;
    int64_t at;
} fake_entry;

typedef struct fake_fault {
    int used;
    char call[FAKE_NAME];
    int nth; /* counts down; fails at 1 */
    int always;
    wc_code code;
} fake_fault;

typedef struct fake_delay_rule {
    char call[FAKE_NAME];
    int ms;
} fake_delay_rule;

typedef struct fake_call {
    char call[FAKE_NAME];
    char id[FAKE_ID];
    int arg;
} fake_call;

typedef struct fake_state {
    pthread_mutex_t mu;
    fake_ctr ctrs[FAKE_N];
    fake_ns netns[FAKE_N];
    fake_att atts[FAKE_N];
    fake_hold holds[FAKE_N];
    fake_img imgs[8];
    fake_entry setups[FAKE_N];
    fake_entry recorded_exits[FAKE_N];
    fake_fault faults[16];
    fake_delay_rule delays[8];
    char exit_during[FAKE_NAME];
    int exit_during_code;
    int ignore_soft;
    int next_pid;
    int next_ip;
    int next_runtime; /* runtime serials, unique across processes */
    size_t n_calls;
    fake_call calls[FAKE_CALLS];
} fake_state;

extern fake_state *fk;

void fake_lock(void);
void fake_unlock(void);
/* Logs the call (id may be NULL), sleeps its delay, and applies an injected failure:
 * -1 with err set (err may be NULL) when this call is to fail. */
int fake_enter(const char *call, const char *id, int arg, wc_err *err);
/* Copies src into a FAKE_ID buffer. */
void fake_copy(char *dst, const char *src);

/* fake_hcs.c: if `call` is the one fake_exit_during named, the container ends now. */
void fake_maybe_exit_during(const char *call, const char *id);

#endif
