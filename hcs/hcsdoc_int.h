/* Internal helpers shared by the hcsdoc_*.c files. Not part of the public API. */
#ifndef WINCRI_HCS_HCSDOC_INT_H
#define WINCRI_HCS_HCSDOC_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"
#include "common/xalloc.h"
#include "hcs/hcsdoc.h"

/* Adds key → value to obj, taking the value's reference. A NULL value or a failed insert
 * sets *fail; building continues and the caller checks *fail once at the end, so document
 * code reads as the document it writes. Jansson cannot fail for memory (common/xalloc.h);
 * what is left is json_pack refusing a NULL string argument and json_string refusing text
 * that is not UTF-8, and the planners' own limits, which the flag also carries. */
void hd_set(json_t *obj, const char *key, json_t *value, int *fail);
/* As hd_set for an array element. */
void hd_push(json_t *arr, json_t *value, int *fail);
/* Sets a string only when it is non-NULL and non-empty (Go's omitempty). */
void hd_set_str(json_t *obj, const char *key, const char *s, int *fail);
/* Sets true only (omitempty drops false). */
void hd_set_true(json_t *obj, const char *key, int flag, int *fail);
/* Sets an integer only when non-zero. */
void hd_set_uint(json_t *obj, const char *key, uint64_t v, int *fail);
/* {"Major":2,"Minor":1} */
json_t *hd_schema_v21(void);
/* Reports that a part of `what` could not be built (*fail above). Returns -1. */
int hd_build_failed(wc_err *err, const char *what);

/* Reads a string member; NULL when missing or not a string. */
const char *hd_str(const json_t *obj, const char *key);
/* obj[key] when it is an object, else NULL. */
json_t *hd_obj(const json_t *obj, const char *key);

/* Looks up an annotation in spec.annotations. Returns 1 and sets *v when present and a
 * valid unsigned decimal, 0 when absent, -1 (WC_INVALID_ARGUMENT) when malformed. */
int hd_annotation_u64(const json_t *spec, const char *key, uint64_t *v, wc_err *err);
/* Reads an unsigned integer member. 1 present, 0 absent, -1 wrong type/negative. */
int hd_member_u64(const json_t *obj, const char *key, const char *where, uint64_t *v, wc_err *err);

/* ASCII case-insensitive comparison (strcasecmp is not in every C library). */
int hd_strcasecmp(const char *a, const char *b);
/* Case-insensitive prefix test. */
int hd_has_prefix_ci(const char *s, const char *prefix);

/* One VSMB share of a utility VM. */
typedef struct hd_share {
    char *host_path;
    char name[16];
    unsigned refs;
    /* A share of a directory restricted to single files (hcsshim keeps these apart from
     * plain directory shares): the files' host paths, in the order they were added. */
    int file_share;
    char **allowed;
    size_t n_allowed;
} hd_share;

#define HD_MAX_LUNS 64

struct hcs_uvm_devices {
    char *id;
    unsigned long vsmb_counter;
    hd_share *shares;
    size_t n_shares, cap_shares;
    char *lun_owner[HD_MAX_LUNS]; /* container id per LUN on controller 0; [0] = UVM */
};

/* Fills the parts of a Container object common to process and Hyper-V isolation
 * (GuestOs, Processor, Memory, Storage.QoS, Networking, MappedPipes, AssignedDevices,
 * RegistryChanges). `uvm` is NULL for process isolation. */
int hd_container_common(const json_t *spec, const hcs_container_opts *o, const hcs_uvm_devices *uvm,
                        json_t *container, wc_err *err);

/* Validates the spec parts every Windows container needs, and that opts carries one GUID
 * per read-only layer. */
int hd_check_layers(const json_t *spec, const hcs_container_opts *o, wc_err *err);

/* 1 when the mount options contain "ro" (any case). */
int hd_mount_readonly(const json_t *mount);

#endif
