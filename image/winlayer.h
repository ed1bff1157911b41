/* Windows-format layer tars, read into a neutral stream of layer operations.
 *
 * A Windows container layer (OCI media type ...layer.v1.tar, as written by hcsshim's
 * pkg/ociwclayer and go-winio's backuptar) holds:
 *   Files/...            the container's C:\ (base and diff layers)
 *   Hives/...            registry hive deltas
 *   UtilityVM/Files/...  the utility VM's boot files (base layers only)
 * and carries Win32 metadata in PAX records:
 *   MSWINDOWS.fileattr       FILE_ATTRIBUTE_* as a decimal number
 *   MSWINDOWS.rawsd          self-relative security descriptor, base64 (current writers)
 *   MSWINDOWS.sd             security descriptor as SDDL text (older writers)
 *   MSWINDOWS.mountpoint     present on a symlink entry: it is a junction, not a symlink
 *   MSWINDOWS.xattr.NAME     extended attribute NAME, base64 value
 *   LIBARCHIVE.creationtime  creation time, PAX time format
 * Alternate data streams are regular entries named "file:stream" right after their file;
 * hard links are tar links; deletions are ".wh.NAME" whiteouts.
 *
 * The parser is push-based (img_wl_parser_feed takes uncompressed tar bytes as they
 * arrive), so an image puller can feed it from a download callback; img_wl_parse_stream
 * is the pull form that also decompresses (gzip, zstd, ... through libarchive). Each
 * entry becomes one or more img_wl_op delivered in tar order to the visitor; the
 * Windows writer (winlayer_win32.c) applies them with BackupWrite, tests record them.
 *
 * Entries that would escape the layer are refused before any op for them is delivered:
 * absolute paths, drive letters, "..", backslashes, Win32-invalid characters, links whose
 * target is outside Files/ or UtilityVM/Files/, device/fifo entries, UNC or NT-device
 * reparse targets. */
#ifndef WINCRI_IMAGE_WINLAYER_H
#define WINCRI_IMAGE_WINLAYER_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Win32 file attribute bits the parser itself looks at. */
#define IMG_WL_ATTR_READONLY 0x00000001u
#define IMG_WL_ATTR_HIDDEN 0x00000002u
#define IMG_WL_ATTR_SYSTEM 0x00000004u
#define IMG_WL_ATTR_DIRECTORY 0x00000010u
#define IMG_WL_ATTR_ARCHIVE 0x00000020u
#define IMG_WL_ATTR_REPARSE_POINT 0x00000400u

/* Which part of the layer an entry belongs to. */
typedef enum {
    IMG_WL_AREA_ROOT = 0, /* the top-level folders themselves: Files, Hives, UtilityVM[/Files] */
    IMG_WL_AREA_FILES,    /* Files/... */
    IMG_WL_AREA_HIVES,    /* Hives/... */
    IMG_WL_AREA_UVM,      /* UtilityVM/... */
} img_wl_area;

typedef enum {
    IMG_WL_KIND_FILE = 0,
    IMG_WL_KIND_DIR,
    IMG_WL_KIND_SYMLINK,    /* reparse point IO_REPARSE_TAG_SYMLINK */
    IMG_WL_KIND_MOUNTPOINT, /* reparse point IO_REPARSE_TAG_MOUNT_POINT (junction) */
} img_wl_kind;

typedef struct img_wl_ea {
    const char *name;
    const uint8_t *value;
    size_t len;
} img_wl_ea;

/* One file, directory or reparse point. Pointers are valid only during the callback. */
typedef struct img_wl_file {
    const char *path; /* layer-relative, '/'-separated: "Files/Windows/System32/cmd.exe" */
    img_wl_area area;
    img_wl_kind kind;
    uint32_t attributes; /* MSWINDOWS.fileattr; without it DIRECTORY for dirs, else 0 */
    /* Win32 FILETIMEs (100 ns units since 1601-01-01 UTC). Missing times default to the
     * tar mtime, as go-winio's FileInfoFromHeader does for creation time. */
    uint64_t creation_time;
    uint64_t last_access_time;
    uint64_t last_write_time;
    uint64_t change_time;
    uint64_t size;     /* length of the main data stream (files only) */
    const uint8_t *sd; /* self-relative security descriptor (MSWINDOWS.rawsd) or NULL */
    size_t sd_len;
    const char *sddl;     /* MSWINDOWS.sd when there is no rawsd, else NULL */
    const img_wl_ea *eas; /* MSWINDOWS.xattr.* in archive order */
    size_t n_eas;
    const char *link_target; /* reparse target (symlink/mount point), Windows form */
} img_wl_file;

typedef enum {
    IMG_WL_ADD = 1, /* create `file`; for files the main stream's IMG_WL_DATA ops follow */
    IMG_WL_STREAM,  /* alternate data stream `stream` of the current file; DATA follows */
    IMG_WL_DATA,    /* bytes of the current stream */
    IMG_WL_END,     /* the current file and all its streams are complete */
    IMG_WL_LINK,    /* hard link `path` to existing `target` (this layer or a parent) */
    IMG_WL_REMOVE,  /* tombstone: `path` is deleted in this layer */
} img_wl_op_kind;

typedef struct img_wl_op {
    img_wl_op_kind kind;
    const char *path;        /* every kind; for STREAM/DATA/END the current file's path */
    const img_wl_file *file; /* ADD */
    const char *target;      /* LINK */
    const char *stream;      /* STREAM: the bare name ("Zone.Identifier"), no ':' or ":$DATA" */
    uint64_t size;           /* STREAM: its length */
    const void *data;        /* DATA */
    size_t len;              /* DATA */
} img_wl_op;

/* Returns 0 to continue, -1 (with err set) to stop the parse. */
typedef int (*img_wl_visit_fn)(void *ctx, const img_wl_op *op, wc_err *err);

typedef struct img_wl_summary {
    uint64_t files, dirs, reparse_points, streams, links, removes;
    uint64_t bytes; /* main + alternate stream bytes, what the import will write */
} img_wl_summary;

typedef struct img_wl_parser img_wl_parser;

img_wl_parser *img_wl_parser_new(img_wl_visit_fn fn, void *ctx);
void img_wl_parser_free(img_wl_parser *p);
/* Feeds uncompressed tar bytes, any split. After an error the parser refuses more input. */
int img_wl_parser_feed(img_wl_parser *p, const void *buf, size_t len, wc_err *err);
/* Declares end of input: fails with WC_DATA_LOSS if the tar stopped inside an entry. */
int img_wl_parser_finish(img_wl_parser *p, wc_err *err);
const img_wl_summary *img_wl_parser_summary(const img_wl_parser *p);

/* Pull source: fill buf with up to cap bytes, set *got (0 = end of input). */
typedef int (*img_wl_read_fn)(void *ctx, void *buf, size_t cap, size_t *got, wc_err *err);

/* Reads a whole layer from `rd`, decompressing whatever libarchive recognises (gzip,
 * zstd, xz, or none), and delivers its ops. `summary` may be NULL. */
int img_wl_parse_stream(img_wl_read_fn rd, void *rctx, img_wl_visit_fn fn, void *ctx,
                        img_wl_summary *summary, wc_err *err);
/* Same, from a file descriptor (not closed). */
int img_wl_parse_fd(int fd, img_wl_visit_fn fn, void *ctx, img_wl_summary *summary, wc_err *err);

/* Pure helpers, shared with the Windows writer and tested on Linux. */

/* Strict RFC 4648 base64 (standard alphabet, padding required). *out is malloc'd. */
int img_wl_base64_decode(const char *in, size_t in_len, uint8_t **out, size_t *out_len);
/* Checks the shape of a self-relative SECURITY_DESCRIPTOR: revision 1, SE_SELF_RELATIVE,
 * owner/group/SACL/DACL offsets inside the buffer. Returns 0 if plausible. */
int img_wl_sd_check(const uint8_t *sd, size_t len);
/* PAX time ("1600000000.5", "-3") to FILETIME. Returns -1 if malformed or before 1601. */
int img_wl_pax_time_to_filetime(const char *s, uint64_t *ft);
uint64_t img_wl_unix_to_filetime(int64_t sec, uint32_t nsec);

/* Encodings the Windows writer hands to BackupWrite (little-endian byte layouts). */

/* WIN32_STREAM_ID ids. */
#define IMG_WL_BACKUP_DATA 1u
#define IMG_WL_BACKUP_EA_DATA 2u
#define IMG_WL_BACKUP_SECURITY_DATA 3u
#define IMG_WL_BACKUP_ALTERNATE_DATA 4u
#define IMG_WL_BACKUP_REPARSE_DATA 8u

/* A WIN32_STREAM_ID header (20 bytes + UTF-16LE name). For alternate data `name` is the
 * bare stream name; ":NAME:$DATA" is what gets written. Returns bytes written or -1 if
 * `cap` is too small. */
long img_wl_encode_stream_header(uint32_t id, uint64_t size, const char *name, uint8_t *out,
                                 size_t cap);
/* FILE_FULL_EA_INFORMATION list, entries 4-byte aligned, last NextEntryOffset 0.
 * *out is malloc'd; fails on names over 255 bytes or values over 65535 bytes. */
int img_wl_encode_eas(const img_wl_ea *eas, size_t n, uint8_t **out, size_t *out_len);
/* REPARSE_DATA_BUFFER for a symlink or mount point to `target` (Windows path, UTF-8 in).
 * Drive-absolute targets get the "\??\" NT prefix in the substitute name; relative
 * symlinks get SYMLINK_FLAG_RELATIVE. *out is malloc'd. */
int img_wl_encode_reparse(const char *target, int mount_point, uint8_t **out, size_t *out_len);

/* ---- Windows only (image/winlayer_win32.c) ---- */

/* Applies the op stream to a staging folder in the format ImportLayer reads, the way
 * hcsshim's legacy layer writer does (files and directory records as attributes + backup
 * stream, hives restored with BackupWrite, tombstones into tombstones.txt); the folder is
 * then given to ImportLayer (img_wcl_import), or for a base layer to img_wl_restore_base.
 * Needs SeBackupPrivilege/SeRestorePrivilege. */
typedef struct img_wl_writer img_wl_writer;
int img_wl_writer_open(const char *staging_root, img_wl_writer **out, wc_err *err);
/* An img_wl_visit_fn: pass the writer as ctx. */
int img_wl_writer_visit(void *writer, const img_wl_op *op, wc_err *err);
/* Finishes the last file, writes tombstones.txt and frees the writer. */
int img_wl_writer_close(img_wl_writer *w, wc_err *err);
/* A base layer is not imported: its staging folder is restored into layer_path (created)
 * with BackupWrite, as hcsshim's base layer writer writes it in place. */
int img_wl_restore_base(const char *staging_root, const char *layer_path, wc_err *err);

#endif
