/* The computecore.dll client (Windows only; include only from *_win32.c files).
 *
 * computecore.dll is loaded at run time from System32, so wincrid.exe starts on a host
 * without the Containers feature and says what is missing instead of failing to load.
 * Every asynchronous HCS call goes through one helper: create an operation, make the call,
 * wait for its result with a timeout, turn a failure's ResultError document into a wc_err
 * (HCS's own message, the HRESULT in err->sys), and on timeout cancel the operation and
 * wait for it to finish before closing it, so no call is left in flight. Result strings
 * are released with LocalFree, as computecore documents. */
#ifndef WINCRI_HCS_HCS_WIN32_H
#define WINCRI_HCS_HCS_WIN32_H

#include <stdint.h>
#include <wchar.h>

#include <windows.h>

#include <jansson.h>

#include "common/err.h"
#include "hcs/hcsdoc.h"
#include "hcs/hresult.h"

/* Default wait for an HCS operation (create of a utility VM can take minutes). */
#define HCS_DEFAULT_TIMEOUT_MS 240000u

/* The DLL is loaded on first use (hcs_api_load in hcs/hcs_win32_api.h). */

typedef struct hcs_system hcs_system;
typedef struct hcs_process hcs_process;

/* Exit notifications, called on an HCS thread: copy what you need and return quickly. */
typedef void (*hcs_system_exit_fn)(void *ctx, const char *id, const hcs_system_exit *exit);
typedef void (*hcs_process_exit_fn)(void *ctx, const char *id, const hcs_process_status *st);

/* Creates a compute system from `doc` (ShouldTerminateOnLastHandleClosed is forced false so
 * a restart of wincrid leaves it running). */
int hcs_system_create(const char *id, const json_t *doc, DWORD timeout_ms, hcs_system **out,
                      wc_err *err);
/* Opens an existing compute system (recovery). WC_NOT_FOUND when it does not exist. */
int hcs_system_open(const char *id, hcs_system **out, wc_err *err);
/* Closes the handle only; the system keeps running. NULL is fine. */
void hcs_system_close(hcs_system *sys);
const char *hcs_system_id(const hcs_system *sys);

int hcs_system_start(hcs_system *sys, DWORD timeout_ms, wc_err *err);
int hcs_system_pause(hcs_system *sys, DWORD timeout_ms, wc_err *err);
int hcs_system_resume(hcs_system *sys, DWORD timeout_ms, wc_err *err);
/* Graceful shutdown of the whole system; already stopped counts as success. */
int hcs_system_shutdown(hcs_system *sys, DWORD timeout_ms, wc_err *err);
/* Immediate termination; already stopped / gone counts as success. */
int hcs_system_terminate(hcs_system *sys, DWORD timeout_ms, wc_err *err);
int hcs_system_modify(hcs_system *sys, const json_t *request, DWORD timeout_ms, wc_err *err);
/* Runs a property query; *result is the UTF-8 Properties document (free()). */
int hcs_system_properties(hcs_system *sys, const json_t *query, DWORD timeout_ms, char **result,
                          wc_err *err);
/* Registers the exit notification (HcsEventSystemExited with its SystemExitStatus). */
int hcs_system_on_exit(hcs_system *sys, hcs_system_exit_fn fn, void *ctx, wc_err *err);

/* The stop sequence for CRI StopContainer/StopPodSandbox: CtrlShutdown to `init` (may be
 * NULL) and up to grace_ms for it to exit, then HcsShutDownComputeSystem in what remains of
 * the grace period, then HcsTerminateComputeSystem if the system is still there.
 * grace_ms == 0 terminates at once (SIGKILL). */
int hcs_system_stop(hcs_system *sys, hcs_process *init, DWORD grace_ms, wc_err *err);

/* Recovery: the compute systems owned by `owner` (NULL → "wincri"), as the JSON array HCS
 * returns (objects with Id, SystemType, Owner, State…). */
int hcs_enumerate_owned(const char *owner, DWORD timeout_ms, json_t **list, wc_err *err);
/* Recovery: opens and terminates a compute system nobody claims any more. */
int hcs_remove_orphan(const char *id, DWORD timeout_ms, wc_err *err);

/* HcsGrantVmAccess: adds the VM's account (derived from its compute system id `vm_id`) to
 * the ACL of `path`, as hcsshim does before every SCSI attach of a VHDX (a node refuses the
 * attach with E_ACCESSDENIED otherwise). The VM need not exist yet. */
int hcs_grant_vm_access(const char *vm_id, const char *path, wc_err *err);

/* Starts a process; stdio[0..2] receive the pipes asked for in `params` (else NULL); the
 * caller owns and closes them. */
int hcs_process_create(hcs_system *sys, const json_t *params, DWORD timeout_ms, hcs_process **out,
                       HANDLE stdio[3], wc_err *err);
/* Opens a process that is already running in the system (after a wincrid restart): its
 * exit, signals and termination work as for one this wincrid created. */
int hcs_process_open(hcs_system *sys, uint32_t pid, hcs_process **out, wc_err *err);
uint32_t hcs_process_pid(const hcs_process *p);
int hcs_process_signal(hcs_process *p, hcs_signal sig, DWORD timeout_ms, wc_err *err);
/* Terminates; an already stopped process counts as success. */
int hcs_process_terminate(hcs_process *p, DWORD timeout_ms, wc_err *err);
/* HcsModifyProcess (console resize, close stdin). */
int hcs_process_modify(hcs_process *p, const json_t *request, DWORD timeout_ms, wc_err *err);
int hcs_process_on_exit(hcs_process *p, hcs_process_exit_fn fn, void *ctx, wc_err *err);
/* Waits for the exit; WC_DEADLINE_EXCEEDED on timeout. */
int hcs_process_wait(hcs_process *p, DWORD timeout_ms, hcs_process_status *st, wc_err *err);
void hcs_process_close(hcs_process *p);

#endif
