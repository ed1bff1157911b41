/* HostProcess containers (Kubernetes "hostProcess: true"): the pure parts of what hcsshim's
 * internal/jobcontainers does, so they are built and tested on Linux. A HostProcess
 * container has no compute system: its processes run on the host in a job object named
 * after it, with the pod's CPU and memory limits on the job, as the user the pod names, in
 * the host's network, and its image layers mounted at a folder the processes find in
 * CONTAINER_SANDBOX_MOUNT_POINT. hcs/jobcontainer_win32.c makes the Win32 calls.
 *
 * Sources: hcsshim internal/jobcontainers/jobcontainer.go (Create, CreateProcess,
 * replaceWithMountPoint, fallbackSetup), oci.go (specToLimits, calculateJobCPURate,
 * calculateJobCPUWeight), logon.go (processToken), storage.go (fallbackRootfsFormat),
 * internal/jobobject/limits.go (SetResourceLimits), pkg/annotations (the annotation names),
 * internal/hcsoci (ConvertCPULimits). */
#ifndef WINCRI_HCS_HCSJOB_H
#define WINCRI_HCS_HCSJOB_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"

/* On the OCI spec: set by the pod model for a HostProcess container (containerd sets the
 * same annotation, hcsshim pkg/annotations HostProcessContainer). */
#define HCS_ANNOTATION_HOSTPROCESS "microsoft.com/hostprocess-container"
/* "true": run as wincrid's own user instead of the one named (pkg/annotations
 * HostProcessInheritUser). */
#define HCS_ANNOTATION_HOSTPROCESS_INHERIT_USER "microsoft.com/hostprocess-inherit-user"
/* A folder other than C:\hpc under which the container's mount point is made
 * (pkg/annotations HostProcessRootfsLocation). */
#define HCS_ANNOTATION_HOSTPROCESS_ROOTFS "microsoft.com/hostprocess-rootfs-location"

/* The job object's name: JobContainer_<id> (jobcontainer.go jobContainerNameFmt). */
#define HCS_JOB_NAME_PREFIX "JobContainer_"
/* Where the layers are mounted on a host without the bind filter: C:\hpc\<id>\
 * (storage.go fallbackRootfsFormat); the trailing backslash is what SetVolumeMountPoint
 * wants. */
#define HCS_JOB_ROOTFS_DEFAULT "C:\\hpc"
#define HCS_JOB_MOUNT_ENV "CONTAINER_SANDBOX_MOUNT_POINT"

/* JOBOBJECT_CPU_RATE_CONTROL_INFORMATION bounds (internal/jobobject: cpuLimitMin/Max 1..10000,
 * cpuWeightMin/Max 1..9). */
#define HCS_JOB_CPU_RATE_MAX 10000
#define HCS_JOB_CPU_WEIGHT_MAX 9

/* 1 when the spec is a HostProcess container's (annotation "true"). */
int hcs_spec_is_hostprocess(const json_t *spec);

/* The limits put on the job, from windows.resources and the io.microsoft.container.*
 * annotations (oci.go specToLimits). cpu_rate is a hard cap in 1/100 % of the whole host
 * (a CPU count becomes count*10000/host_cpus, at least 1; cpu.maximum is taken as it is);
 * cpu_weight is 1..9 (1 + 8*shares/10000) and only when no rate is set; memory is whole MiB
 * (the spec's bytes rounded down, as ParseAnnotationsMemory reads them). 0 = not limited. */
typedef struct hcs_job_limits {
    uint32_t cpu_rate;
    uint32_t cpu_weight;
    uint64_t memory_bytes;
    uint64_t max_bandwidth; /* bytes per second */
    uint64_t max_iops;
} hcs_job_limits;
/* WC_INVALID_ARGUMENT naming the field when count, maximum and shares are combined, a value
 * is out of range or malformed. host_cpus must be > 0. */
int hcs_job_limits_of(const json_t *spec, unsigned host_cpus, hcs_job_limits *out, wc_err *err);

/* Who the container's processes run as (logon.go processToken): */
typedef enum {
    HCS_JOB_USER_INHERIT, /* wincrid's own token (the inherit-user annotation) */
    HCS_JOB_USER_SYSTEM,  /* NT AUTHORITY\SYSTEM: the token of wincrid, a LocalSystem service */
    HCS_JOB_USER_SERVICE, /* NT AUTHORITY\LOCAL SERVICE or NETWORK SERVICE: a service logon */
    HCS_JOB_USER_ACCOUNT, /* [DOMAIN\]name: a local group (a user is made in it) or a user */
} hcs_job_user_kind;
typedef struct hcs_job_user {
    hcs_job_user_kind kind;
    char domain[128]; /* "NT AUTHORITY" for the built-in accounts; "" when none was given */
    char name[128];   /* the account (canonical for the built-ins: SYSTEM, LocalService,
                         NetworkService), or the group/user to look up */
    char logon[128];  /* the name as written, what LogonUser is given (hcsshim passes it
                         unchanged: "Local Service" stays so) */
} hcs_job_user;
/* From the spec's process.user.username and annotations. No user is WC_INVALID_ARGUMENT
 * (hcsshim: "empty username or group name passed"), as is more than one backslash. */
int hcs_job_user_of(const json_t *spec, hcs_job_user *out, wc_err *err);
/* The local account hcsshim makes in a group for a container: the first 20 characters of
 * its id (winapi.UserNameCharLimit). */
void hcs_job_local_account(const char *container_id, char *buf, size_t len);

/* The container's mount point: <HCS_JOB_ROOTFS_DEFAULT or the rootfs-location
 * annotation>\<id>\ with the trailing backslash (jobcontainer.go fallbackSetup). Caller
 * frees. NULL with WC_INVALID_ARGUMENT for a relative location. */
char *hcs_job_mount_point(const json_t *spec, const char *container_id, wc_err *err);

/* Replaces %CONTAINER_SANDBOX_MOUNT_POINT% and $env:CONTAINER_SANDBOX_MOUNT_POINT in s with the
 * mount point without its trailing backslash (replaceWithMountPoint). Caller frees; *changed
 * says whether anything was replaced (may be NULL). */
char *hcs_job_expand(const char *s, const char *mount_point, int *changed);

/* The working directory of a process (CreateProcess): the mount point when none is asked
 * for; one naming the mount point variable expanded; any other path taken relative to the
 * mount point with its drive letter dropped ("C:\work" -> "<mp>\work"), as on a host without
 * the bind filter. Caller frees. */
char *hcs_job_working_dir(const char *cwd, const char *mount_point);

/* Where a mount's destination shows up without the bind filter (mounts.go fallbackMountSetup):
 * <mount point>\<destination without its drive letter>, a symbolic link to the source.
 * Caller frees. NULL with WC_INVALID_ARGUMENT for a named pipe source ("named pipe mounts not
 * supported for job containers - interact with the pipe directly") or an empty field. */
char *hcs_job_mount_link(const char *mount_point, const char *source, const char *destination,
                         wc_err *err);

#endif
