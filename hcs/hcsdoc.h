/* OCI runtime spec (Windows section) → HCS schema 2.1 JSON documents.
 *
 * Pure translation: no Windows calls, so every document is built and checked on Linux.
 * Input is the OCI spec as containerd hands it to runhcs (a Jansson object with `root`,
 * `mounts`, `process`, `hostname`, `annotations` and a `windows` section holding
 * `layerFolders` (top-most read-only layer first, scratch folder last), `resources`,
 * `network`, `devices`, `hyperv`). Output documents are new references owned by the caller
 * (json_decref). Every builder returns 0, or -1 with err filled (WC_INVALID_ARGUMENT for a
 * spec HCS cannot honour, naming the offending field).
 *
 * Field names, shapes and defaults follow hcsshim (internal/hcsoci/hcsdoc_wcow.go,
 * internal/uvm/create_wcow.go, internal/uvm/{vsmb,scsi,network,combine_layers}.go,
 * internal/cmd/cmd.go, internal/hcs/process.go) with two deliberate differences:
 * Owner is "wincri" and ShouldTerminateOnLastHandleClosed is false, so a restart of
 * wincrid leaves its compute systems running for recovery. */
#ifndef WINCRI_HCS_HCSDOC_H
#define WINCRI_HCS_HCSDOC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"

#define HCS_OWNER "wincri"
#define HCS_HANDLER_PROCESS "runhcs-wcow-process"
#define HCS_HANDLER_HYPERV "runhcs-wcow-hypervisor"

/* Annotation prefixes the runtime handlers pass through from CRI to the spec. */
#define HCS_ANNOTATION_UVM_PREFIX "io.microsoft.virtualmachine."
#define HCS_ANNOTATION_CONTAINER_PREFIX "io.microsoft.container."
#define HCS_ANNOTATION_UVM_MEMORY "io.microsoft.virtualmachine.computetopology.memory.sizeinmb"
#define HCS_ANNOTATION_UVM_CPUS "io.microsoft.virtualmachine.computetopology.processor.count"
#define HCS_ANNOTATION_CPU_COUNT "io.microsoft.container.processor.count"
#define HCS_ANNOTATION_CPU_LIMIT "io.microsoft.container.processor.limit"
#define HCS_ANNOTATION_CPU_WEIGHT "io.microsoft.container.processor.weight"
#define HCS_ANNOTATION_MEMORY "io.microsoft.container.memory.sizeinmb"
#define HCS_ANNOTATION_STORAGE_BPS "io.microsoft.container.storage.qos.bandwidthmaximum"
#define HCS_ANNOTATION_STORAGE_IOPS "io.microsoft.container.storage.qos.iopsmaximum"
/* Local process dumps (hcsshim pkg/annotations ContainerProcessDumpLocation and
 * WCOWProcessDumpType): WER writes dumps of crashing processes to this path inside the
 * container, "mini" or "full" (the default). The type's key lies outside both prefixes. */
#define HCS_ANNOTATION_DUMP_LOCATION "io.microsoft.container.processdumplocation"
#define HCS_ANNOTATION_DUMP_TYPE "io.microsoft.wcow.processdumptype"
/* Utility VM CPU limit (1..100000) and weight (0..10000), storage QoS (hcsshim
 * pkg/annotations ProcessorLimit, ProcessorWeight, StorageQoS*Maximum). */
#define HCS_ANNOTATION_UVM_CPU_LIMIT "io.microsoft.virtualmachine.computetopology.processor.limit"
#define HCS_ANNOTATION_UVM_CPU_WEIGHT "io.microsoft.virtualmachine.computetopology.processor.weight"
#define HCS_ANNOTATION_UVM_STORAGE_IOPS "io.microsoft.virtualmachine.storageqos.iopsmaximum"
#define HCS_ANNOTATION_UVM_STORAGE_BPS "io.microsoft.virtualmachine.storageqos.bandwidthmaximum"
#define HCS_ANNOTATION_UVM_NO_COMPARTMENT_NS                                                       \
    "io.microsoft.virtualmachine.disablecompartmentnamespace"

/* WaitToKillServiceTimeout hcsshim writes into every container (math.MaxInt32 ms): a
 * container's processes are not killed by the guest before the caller's own grace ends. */
#define HCS_WAIT_TO_KILL_SERVICE_MS 2147483647u

/* Defaults of a Hyper-V pod's utility VM (hcsshim's NewDefaultOptionsWCOW). */
#define HCS_UVM_DEFAULT_MEMORY_MB 1024
#define HCS_UVM_DEFAULT_CPUS 2

/* Path prefix of VSMB shares as the utility VM sees them (hcsshim uvm/vsmb.go). */
#define HCS_VSMB_GUEST_PREFIX "\\\\?\\VMSMB\\VSMB-{dcc079ae-60ba-4d07-847c-3493609c0870}\\"
/* Where container roots live inside a Windows utility VM (hcsshim guestpath). */
#define HCS_UVM_CONTAINER_ROOT_PREFIX "C:\\c\\"

/* ---- runtime handlers ---------------------------------------------------------------- */

typedef enum { HCS_ISOLATION_PROCESS = 0, HCS_ISOLATION_HYPERV = 1 } hcs_isolation;

/* "runhcs-wcow-process" → process, "runhcs-wcow-hypervisor" → Hyper-V; anything else is
 * WC_INVALID_ARGUMENT naming the handler. */
int hcs_handler_isolation(const char *handler, hcs_isolation *out, wc_err *err);

/* Copies the CRI annotations (`from`, a JSON object of strings, may be NULL) that the
 * handler passes through into `spec`'s `annotations` object (created if missing):
 * io.microsoft.container.* for both handlers, io.microsoft.virtualmachine.* only for the
 * Hyper-V handler and only when `pod` is set (they describe the pod's utility VM).
 * Returns the number copied, or -1. */
int hcs_annotations_passthrough(const json_t *from, const char *handler, int pod, json_t *spec,
                                wc_err *err);

/* ---- containers ---------------------------------------------------------------------- */

typedef struct hcs_container_opts {
    const char *owner; /* NULL → HCS_OWNER */
    /* The GUID of each read-only layer, parallel to spec windows.layerFolders without its
     * last (scratch) entry. On Windows these come from the layer folder names (NameToGuid). */
    const char *const *layer_ids;
    size_t n_layer_ids;
    /* HCN namespace GUID; NULL → spec windows.network.networkNamespace. */
    const char *network_namespace;
    unsigned host_cpus;               /* clamp for Processor.Count; 0 = no clamp */
    unsigned wait_to_kill_service_ms; /* >0 → RegistryChanges WaitToKillServiceTimeout */
    /* Hyper-V: 1 when a mount's host path is a file (shared as its directory limited to
     * that file); NULL → every mount source is a directory. */
    int (*is_file)(const char *host_path);
    /* The Container Credential Guard instance's state (ContainerCredentialGuardState, from
     * hcs_ccg_instance_find), borrowed; NULL → no gMSA identity. */
    const json_t *credential_guard;
} hcs_container_opts;

/* The container's RegistryChanges, as hcsshim's createWindowsContainerDocument writes them:
 * WaitToKillServiceTimeout (when wait_to_kill_ms > 0), then for a process dump location
 * annotation the WER LocalDumps DumpFolder and DumpType (mini 1, full 2). NULL in *out when
 * there is nothing to change; an unknown dump type is WC_INVALID_ARGUMENT. */
int hcs_doc_registry_changes(const json_t *spec, unsigned wait_to_kill_ms, json_t **out,
                             wc_err *err);

/* Process-isolated container: the full ComputeSystem document for HcsCreateComputeSystem.
 * Needs spec root.path = volume path of the mounted scratch ("\\?\Volume{GUID}\"). */
int hcs_doc_container(const json_t *spec, const hcs_container_opts *opts, json_t **out,
                      wc_err *err);

/* UpdateContainerResources of a running container: HcsModifyComputeSystem requests (a JSON
 * array, in order) from the OCI windows.resources object: Container/Memory/SizeInMB and
 * Container/Processor Update requests, as hcsshim's updateWCOWResources sends them.
 * host_cpus clamps a processor count (0: no clamp). WC_INVALID_ARGUMENT for more than one
 * CPU setting, or for nothing to update. */
int hcs_doc_container_update(const json_t *resources, unsigned host_cpus, json_t **out,
                             wc_err *err);

/* ---- Hyper-V utility VM -------------------------------------------------------------- */

typedef struct hcs_uvm_opts {
    const char *owner;                 /* NULL → HCS_OWNER */
    const char *uvm_folder;            /* base layer folder holding UtilityVM\Files */
    const char *scratch_vhdx;          /* the UVM's own scratch disk (SCSI 0:0) */
    unsigned memory_mb;                /* 0 → HCS_UVM_DEFAULT_MEMORY_MB */
    unsigned cpus;                     /* 0 → HCS_UVM_DEFAULT_CPUS */
    unsigned host_cpus;                /* clamp for cpus; 0 = no clamp */
    unsigned cpu_limit;                /* Processor.Limit, 1..100000; 0 = none */
    unsigned cpu_weight;               /* Processor.Weight, 0..10000; 0 = none */
    uint64_t storage_iops;             /* StorageQoS.IopsMaximum; 0 = platform default */
    uint64_t storage_bps;              /* StorageQoS.BandwidthMaximum; 0 = platform default */
    int disable_compartment_namespace; /* leave out the gns EnableCompartmentNamespace value */
} hcs_uvm_opts;

/* Reads the pod annotations HCS_ANNOTATION_UVM_MEMORY / _CPUS / _CPU_LIMIT / _CPU_WEIGHT /
 * _STORAGE_IOPS / _STORAGE_BPS from a spec or annotation object (either accepted) into o; a
 * malformed or out-of-range value is WC_INVALID_ARGUMENT. Fields not annotated are left as
 * they are. */
int hcs_uvm_opts_from_annotations(const json_t *spec_or_annotations, hcs_uvm_opts *o, wc_err *err);

/* The utility VM's ComputeSystem document. */
int hcs_doc_uvm(const hcs_uvm_opts *opts, json_t **out, wc_err *err);

/* Bookkeeping of one utility VM's devices (VSMB shares and SCSI LUNs), so that documents
 * for successive containers allocate names and slots the way hcsshim does (shares "s1",
 * "s2"… ref-counted by host path; scratch disks on controller 0 from LUN 1, LUN 0 being the
 * UVM's own scratch). Not thread-safe; the Windows runtime serialises calls per utility VM
 * (hcs/uvm_win32.c). */
typedef struct hcs_uvm_devices hcs_uvm_devices;
hcs_uvm_devices *hcs_uvm_devices_new(const char *id);
void hcs_uvm_devices_free(hcs_uvm_devices *uvm);
const char *hcs_uvm_devices_id(const hcs_uvm_devices *uvm);

/* The bookkeeping as JSON, for the runtime's record of a VM (a restarted wincrid reopens
 * the VM and goes on naming shares and LUNs where it left off), and back. NULL / -1 when out
 * of memory or, loading, when the record is not one (WC_INVALID_ARGUMENT). */
json_t *hcs_uvm_devices_save(const hcs_uvm_devices *uvm);
int hcs_uvm_devices_load(const json_t *saved, hcs_uvm_devices **out, wc_err *err);

/* A hosted (Hyper-V isolated) container's documents, in the order they are sent. */
typedef struct hcs_hosted_plan {
    json_t *modify; /* array of HcsModifyComputeSystem requests for the UVM */
    json_t *doc;    /* the container's ComputeSystem document (HostingSystemId) */
    char root[300]; /* the container root inside the UVM */
    unsigned lun;   /* the SCSI LUN given to the container's scratch */
} hcs_hosted_plan;
void hcs_hosted_plan_clear(hcs_hosted_plan *plan);

/* Plans a container inside `uvm`: a VSMB share per read-only layer (and per directory
 * mount) not already shared (a mount of a file: its directory shared with
 * RestrictFileAccess/SingleFileMapping and the file in AllowedFiles, a second file of that
 * directory an Update of the list, mapped as <share>\<file>), the scratch (layerFolders' last entry
 * + "\sandbox.vhdx") on the next SCSI LUN with its MappedVirtualDisk guest request, the
 * CombinedLayers guest request, then the hosted document. `container_id` names the root C:\c\<id>.
 * On failure the UVM bookkeeping is left as it was. */
int hcs_uvm_plan_container(hcs_uvm_devices *uvm, const char *container_id, const json_t *spec,
                           const hcs_container_opts *opts, hcs_hosted_plan *plan, wc_err *err);

/* Releases what hcs_uvm_plan_container reserved for a container that is gone (LUN and
 * share references), appending the HCS removal requests to `requests` (a JSON array). */
int hcs_uvm_release_container(hcs_uvm_devices *uvm, const char *container_id, const json_t *spec,
                              json_t *requests, wc_err *err);

/* Network adapter into a UVM: first the guest-only PreAdd request carrying the HNS
 * endpoint object (`endpoint`, borrowed), then the Add of the adapter itself. */
int hcs_doc_uvm_nic_preadd(const char *nic_id, const json_t *endpoint, json_t **out, wc_err *err);
/* The endpoint object a PreAdd carries: hcsshim sends HNS's v1 HNSEndpoint (internal/hns
 * hnsendpoint.go: ID, Name, MacAddress, IPAddress, PrefixLength), made here from what HCN v2
 * reports. ip may be NULL (no address yet). */
int hcs_doc_uvm_nic_endpoint(const char *endpoint_id, const char *name, const char *mac,
                             const char *ip, unsigned prefix_length, json_t **out, wc_err *err);
int hcs_doc_uvm_nic_add(const char *nic_id, const char *endpoint_id, const char *mac, json_t **out,
                        wc_err *err);

/* ---- Container Credential Guard (gMSA) ------------------------------------------------ */

/* Shapes from hcsshim internal/credentials/credentials.go (CreateCredentialGuard,
 * removeCredentialGuard) and the HCS schema (ModificationRequest,
 * ContainerCredentialGuardOperationRequest, ServicePropertyQuery). */

/* HcsModifyServiceSettings request adding the instance `id` with the credential spec text:
 * transport LRPC for a process-isolated container, HvSocket for one in a utility VM. */
int hcs_doc_ccg_add(const char *id, const char *credential_spec, int hyperv, json_t **out,
                    wc_err *err);
/* HcsModifyServiceSettings request removing the instance `id`. */
json_t *hcs_doc_ccg_remove(const char *id);
/* HcsGetServiceProperties query: {"PropertyTypes":["ContainerCredentialGuard"]}. */
json_t *hcs_doc_ccg_query(void);
/* Finds instance `id` in the ServiceProperties answering hcs_doc_ccg_query (exactly one
 * property, a ContainerCredentialGuardSystemInfo): *out a new reference to the
 * ContainerCredentialGuardInstance. WC_NOT_FOUND when absent. */
int hcs_ccg_instance_find(const char *properties_json, const char *id, json_t **out, wc_err *err);
/* The utility VM's HvSocket service table entry an HvSocket instance needs
 * (hcsshim UtilityVM.UpdateHvSocketService): an Update request at
 * VirtualMachine/Devices/HvSocket/HvSocketConfig/ServiceTable/<ServiceId> from the
 * instance's HvSocketConfig. WC_INVALID_ARGUMENT when the instance has none. */
int hcs_doc_uvm_hvsocket_service(const json_t *instance, json_t **out, wc_err *err);
/* Puts the instance's state into a container document (Container or
 * HostedSystem.Container) as ContainerCredentialGuard. */
int hcs_doc_set_credential_guard(json_t *doc, const json_t *state, wc_err *err);

/* ---- processes ----------------------------------------------------------------------- */

typedef struct hcs_process_io {
    int stdin_pipe, stdout_pipe, stderr_pipe; /* ask HCS for these std pipes */
} hcs_process_io;

/* ProcessParameters from an OCI `process` object: CommandLine (process.commandLine, or
 * args quoted with Windows rules), User (user.username), Environment (entries with a
 * value), WorkingDirectory (cwd), EmulateConsole + ConsoleSize [height, width] for a TTY,
 * CreateStd*Pipe from `io`. */
int hcs_doc_process(const json_t *process, const hcs_process_io *io, json_t **out, wc_err *err);

/* Command lines are quoted with hcs_argv_join (hcs/winstr.h). */

/* HcsModifyProcess documents. */
json_t *hcs_doc_process_resize(uint16_t width, uint16_t height);
json_t *hcs_doc_process_close_stdin(void);

typedef enum {
    HCS_SIGNAL_CTRL_C,
    HCS_SIGNAL_CTRL_BREAK,
    HCS_SIGNAL_CTRL_CLOSE,
    HCS_SIGNAL_CTRL_LOGOFF,
    HCS_SIGNAL_CTRL_SHUTDOWN,
} hcs_signal;

/* HcsSignalProcess options, {"Signal": "CtrlShutdown"} and friends. */
json_t *hcs_doc_signal(hcs_signal sig);
/* Maps a POSIX signal number from CRI/kubelet: SIGINT → CtrlC, SIGTERM → CtrlShutdown,
 * 21 (SIGBREAK) → CtrlBreak; returns 0 with *out set. SIGKILL returns 1: terminate the
 * process instead. Others: -1, WC_INVALID_ARGUMENT. */
int hcs_signal_from_posix(int signo, hcs_signal *out, wc_err *err);

/* ---- queries and their results ------------------------------------------------------- */

json_t *hcs_doc_query_statistics(void);   /* {"PropertyTypes":["Statistics"]} */
json_t *hcs_doc_query_process_list(void); /* {"PropertyTypes":["ProcessList"]} */
/* HcsEnumerateComputeSystems query for systems owned by `owner` (NULL → HCS_OWNER). */
json_t *hcs_doc_query_owned(const char *owner);

/* Container statistics in CRI units. */
typedef struct hcs_doc_stats {
    int64_t timestamp_ns; /* Statistics.Timestamp as Unix ns; 0 when absent */
    uint64_t uptime_ns;
    int has_cpu, has_memory;
    uint64_t cpu_total_ns, cpu_user_ns, cpu_kernel_ns; /* 100 ns units × 100 */
    uint64_t mem_private_working_set_bytes;            /* → CRI working_set_bytes */
    uint64_t mem_commit_bytes, mem_commit_peak_bytes;  /* → CRI commit bytes */
} hcs_doc_stats;

/* Parses the Properties document answering hcs_doc_query_statistics(). */
int hcs_stats_parse(const char *properties_json, hcs_doc_stats *out, wc_err *err);

typedef struct hcs_proc_info {
    uint32_t pid;
    char image[260];
    uint64_t kernel_ns, user_ns;
    uint64_t commit_bytes, ws_private_bytes, ws_shared_bytes;
} hcs_proc_info;

/* Parses the Properties document answering hcs_doc_query_process_list(); *out is a
 * malloc'd array of *n entries (free()). */
int hcs_process_list_parse(const char *properties_json, hcs_proc_info **out, size_t *n,
                           wc_err *err);

/* HcsEventSystemExited data (SystemExitStatus). */
typedef struct hcs_system_exit {
    int32_t status;     /* an HRESULT; 0 for a clean exit */
    char exit_type[32]; /* "GracefulExit", "ForcedExit", "UnexpectedExit", … or "" */
} hcs_system_exit;
int hcs_system_exit_parse(const char *json, hcs_system_exit *out, wc_err *err);

/* HcsEventProcessExited data (ProcessStatus). */
typedef struct hcs_process_status {
    uint32_t pid;
    int exited;
    uint32_t exit_code;
    int32_t last_wait_result;
} hcs_process_status;
int hcs_process_status_parse(const char *json, hcs_process_status *out, wc_err *err);

/* Parses an RFC 3339 timestamp ("2024-01-02T03:04:05.123456789Z", offsets allowed) into
 * Unix nanoseconds. Returns 0, or -1 when malformed. */
int hcs_parse_rfc3339(const char *s, int64_t *ns);

#endif
