/* A fake of everything below the pod model, linked in place of the real parts (Makefile:
 * test_pod_*): the compute backend (hcs/runtime.h), pod networks (hns/hns.h), the image store's
 * look-up and holds (image/image.h) and the platform seams of podsandbox/platform.h (sandbox
 * set-up, specs, stdio). It needs no runc, CNI, keeper or root, and answers in microseconds.
 *
 * What it holds (containers, namespaces, holds, the call log) lives in memory shared with
 * child processes, as the real backend outlives a killed wincrid: a test can run the model in
 * a child that dies at a crash point (common/crash.h) and reopen it over the same state.
 *
 * Scripting: fake_fail makes a call fail; fake_exit ends a container and reports it through the
 * exit callback of the runtime watching it, on the calling thread (as the backend's own thread
 * would at that instant); fake_exit_during ends it inside a given call, to race the model. As on
 * Linux, a runtime watches the containers it created, and those it adopted after a restart
 * (hcs_adopt, or hcs_start of one it did not know): the exit of one nobody watches goes unheard. */
#ifndef WINCRI_TESTS_FAKE_BACKEND_H
#define WINCRI_TESTS_FAKE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "hcs/runtime.h"

#define FAKE_IMAGE_ID "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define FAKE_IMAGE_REF "docker.io/library/busybox:latest"

/* Empties everything: no containers, namespaces, holds, failures, calls; one image
 * (FAKE_IMAGE_REF, also found as "busybox", id FAKE_IMAGE_ID). */
void fake_reset(void);

/* ---- failures ----
 * The nth next call (1: the very next) of `call` ("hcs_create", "hns_attach",
 * "pod_platform_sandbox_setup", "img_hold", ... every faked function by its name) fails with
 * `code`, message "<call>: injected failure". Calls that cannot fail are not listed here. */
void fake_fail(const char *call, int nth, wc_code code);
/* Every call of `call` fails from now on (until fake_reset or fake_fail_clear). */
void fake_fail_always(const char *call, wc_code code);
void fake_fail_clear(void);
/* Each call of `call` sleeps this long before it acts (widens races; 0: none). */
void fake_delay(const char *call, int ms);

/* ---- the call log ---- */
/* How many times `call` ran for object `id` (a container or pod id, a netns name; NULL: any). */
int fake_calls(const char *call, const char *id);
/* The `arg` of the last such call (hcs_kill: the signal; -1 when there is none). */
int fake_last_arg(const char *call, const char *id);
/* Position in the log of the first such call at or after `from`; -1 when none. */
int fake_call_index(const char *call, const char *id, int from);
/* The log as text, one call a line, for failure messages (static buffer). */
const char *fake_log_text(void);
void fake_log_clear(void);

/* ---- containers the backend holds ---- */
/* HCS_MISSING when it holds none of that id. */
hcs_status fake_ctr_status(const char *id);
int fake_ctr_pid(const char *id);
size_t fake_ctr_count(void);
/* Puts a container there (or changes it) as the backend would have it after a restart: watched
 * by no runtime, so a change made here is reported to nobody. */
void fake_ctr_put(const char *id, const char *sandbox_id, const char *handler, hcs_status status,
                  int pid);
/* The backend lost it (no exit is reported). */
void fake_ctr_drop(const char *id);
/* Its init ended with exit_code: STOPPED, and the exit reported by the runtime watching it (if
 * one is open in this process). */
void fake_exit(const char *id, int exit_code);
/* The next time `call` runs for any container, that container ends with exit_code right after
 * the call did its work, before it returns. */
void fake_exit_during(const char *call, int exit_code);
/* Containers survive every signal but SIGKILL (default: any signal ends them, 128+sig). */
void fake_ignore_soft_signals(int on);

/* ---- pod networks ---- */
int fake_netns_exists(const char *netns);
int fake_netns_attached(const char *netns);
size_t fake_netns_count(void); /* namespaces that exist */
size_t fake_attached_count(void);

/* ---- images ---- */
void fake_image_add(const char *ref, const char *id);
/* Holds of `holder` (NULL: all holds). */
size_t fake_holds(const char *holder);

/* ---- platform seams ---- */
/* 1 while pod_platform_sandbox_setup's work for the pod is in place (not torn down). */
int fake_sandbox_set_up(const char *sandbox_id);
size_t fake_sandboxes_set_up(void);
/* The stdio keeper recorded that the container exited with exit_code while wincrid was away
 * (pod_platform_stdio_recorded_exit). */
void fake_stdio_recorded_exit(const char *id, int exit_code, int64_t finished_ns);
/* Containers whose stdio the model holds now (this process). */
size_t fake_stdio_held(void);
int fake_stdio_holds(const char *id);

#endif
