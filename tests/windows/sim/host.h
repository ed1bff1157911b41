/* winsim host: the simulated Windows host's services (what vmcompute.exe and hns.exe are on
 * a node). The DLL doubles are thin clients of this process; it holds compute systems, their
 * processes (real wine processes), mounted volumes and HCN objects, so they outlive a restart
 * of wincrid.exe exactly as they outlive it on a node. Test code. */
#ifndef WINSIM_HOST_H
#define WINSIM_HOST_H

#include <winsock2.h>
#include <windows.h>

#include "simjson.h"

/* One client process (wincrid.exe) and what it holds open. */
typedef struct client client;

/* A request in flight: the parsed request, the client, and the reply being built. The
 * handler sets hr (and may add members to out, which start with a comma). */
typedef struct req {
    sj *in;
    client *cl;
    DWORD pid;
    HRESULT hr;
    sb out;           /* extra reply members, each ",\"key\":value" */
    char *journal_id; /* what the journal line names (system id, path, GUID) */
    const char *doc;  /* the document journalled with the call (borrowed) */
    char note[256];   /* a remark for the journal (what the double did or noticed) */
} req;

typedef void (*handler_fn)(req *r);

/* ---- host_main.c ---- */
extern CRITICAL_SECTION g_lock; /* guards every table of the host */
extern char g_root[MAX_PATH];   /* C:\winsim\<session>: volumes, VM disks, the journal */
void host_log(const char *fmt, ...) __attribute__((format(gnu_printf, 1, 2)));
/* An injected failure for `call`, or S_OK. Counts down faults with a count. */
HRESULT host_fault(const char *call);
/* Sends an event line to every event stream of pid (no-op when it has none). */
void host_event(DWORD pid, const char *line);
/* ---- host_threads.c ---- */
/* Calls fn for each thread of pid; -1 (logged) when the process list cannot be read. */
int host_each_thread(DWORD pid, void (*fn)(DWORD tid, void *ctx), void *ctx);

/* The client's process handle (PROCESS_DUP_HANDLE), for handing it pipe ends. */
HANDLE host_client_process(DWORD pid);
/* Handles a client holds: kind "system"/"process", its id on the client side. */
void host_handle_add(DWORD pid, long long h, const char *kind, void *obj);
void *host_handle_get(DWORD pid, long long h, const char *kind);
void host_handle_del(DWORD pid, long long h);
size_t host_handles_of(void *obj); /* how many client handles point at obj */
/* Records a pipe end handed to the client (HCS_PROCESS_INFORMATION std handles): the tests'
 * statistics say how many of them the client still holds open. */
void host_pipe_given(DWORD pid, HANDLE value);
void host_set_callback(DWORD pid, long long h, int on);
/* Calls fn for each (pid, handle) with a callback registered on obj. */
void host_each_callback(void *obj, void (*fn)(DWORD pid, long long h, void *ctx), void *ctx);

/* ---- host_hcs.c ---- */
void hcs_register(void);
void hcs_client_gone(DWORD pid);
void hcs_stats(sb *out); /* ,"systems":n,"live_processes":n ... */
void hcs_shutdown_all(void);
const char *hcs_describe(void *process); /* "<system>/<pid> running|exited" (static) */

/* ---- host_storage.c ---- */
void storage_register(void);
/* The host directory a volume path ("\\?\Volume{GUID}\") is mounted on; NULL if none. */
const char *storage_volume_dir(const char *volume);
/* Copies the Files of each layer folder (bottom-most last in the array) into dir, applying
 * each layer's whiteouts, the way a container's merged view shows them. */
int storage_merge_layers(const char *const *layer_dirs, size_t n, const char *dir);
int storage_vm_granted(const char *vm_id, const char *path);
void storage_stats(sb *out);

/* ---- host_hcn.c ---- */
void hcn_register(void);
int hcn_endpoint_exists(const char *id);
int hcn_namespace_exists(const char *id);
/* The endpoint ids of a namespace (at most max); 0 when it has none or does not exist. */
size_t hcn_namespace_endpoints(const char *ns_id, char (*out)[40], size_t max);
void hcn_stats(sb *out);

/* ---- host_ccg.c ---- */
void ccg_register(void);
void ccg_stats(sb *out); /* ,"ccg_instances":[ids] */
/* Whether a container document's ContainerCredentialGuard names a registered instance of
 * the right transport (HvSocket when hosted); service_id gets its HvSocket service. */
int ccg_state_check(const sj *state, int hosted, char *service_id, char *note, size_t size);

/* ---- host_gaps.c ---- */
void gaps_register(void);
/* Deletes a symbolic link, not what it leads to; every link under a folder. */
int gaps_remove_link(const char *path);
void gaps_remove_links_under(const char *dir);

/* ---- dispatch ---- */
void host_register(const char *op, handler_fn fn);

/* ---- helpers (host_main.c) ---- */
char *xstrdup(const char *s);
int path_exists(const char *p);
int dir_exists(const char *p);
int mkdirs(const char *p);
int remove_tree(const char *p);
int copy_tree(const char *from, const char *to);
void now_rfc3339(char out[40]);
long long now_100ns(void);   /* since 1601 */
void guid_new(char out[37]); /* lower-case, no braces */
int guid_equal(const char *a, const char *b);
HRESULT hr_of_win32(DWORD e);
/* A ResultError document (the shape HCS puts in an operation's result on failure). */
char *result_error(HRESULT hr, const char *message);

#endif
