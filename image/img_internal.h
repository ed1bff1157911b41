/* Internal interfaces of image/: references, digests, platform choice, registry auth,
 * the HTTP client, the content store and layer unpacking. Not for other modules (they use
 * image/image.h); unit tests include it to test the pure parts. */
#ifndef WINCRI_IMAGE_INTERNAL_H
#define WINCRI_IMAGE_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "image/image.h"
#include "image/winlayer.h"

/* ---- Media types --------------------------------------------------------------------- */

#define IMG_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define IMG_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define IMG_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define IMG_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

/* ---- References (ref.c) -------------------------------------------------------------- */

typedef struct img_ref {
    char *domain; /* "docker.io", "registry.k8s.io", "127.0.0.1:5000" */
    char *path;   /* "library/busybox" */
    char *tag;    /* NULL when only a digest was given */
    char *digest; /* "sha256:<64 hex>" or NULL */
} img_ref;

/* Parses and normalises a reference as Docker does: no domain → docker.io, a single
 * docker.io path component → library/NAME, no tag and no digest → :latest.
 * WC_INVALID_ARGUMENT with the reason for anything malformed. */
int img_ref_parse(const char *s, img_ref *out, wc_err *err);
void img_ref_clear(img_ref *r);
/* "domain/path" (caller frees). */
char *img_ref_repo(const img_ref *r);
/* "domain/path:tag" when there is a tag, else "domain/path@digest" (caller frees). */
char *img_ref_string(const img_ref *r);
/* True for 127.0.0.0/8, ::1 and localhost, with or without a port. */
int img_host_is_loopback(const char *hostport);

/* ---- Digests (digest.c) -------------------------------------------------------------- */

#define IMG_DIGEST_LEN 71 /* "sha256:" + 64 hex */

typedef struct img_hasher img_hasher;
img_hasher *img_hasher_new(void);
void img_hasher_update(img_hasher *h, const void *p, size_t n);
/* Writes "sha256:<hex>" into out (at least IMG_DIGEST_LEN + 1 bytes). */
void img_hasher_final(img_hasher *h, char *out);
void img_hasher_free(img_hasher *h);
void img_sha256_digest(const void *p, size_t n, char *out);
/* True for "sha256:" followed by exactly 64 lowercase hex digits. */
int img_digest_valid(const char *d);
/* Chain IDs from diff IDs: chain[0] = diff[0], chain[i] = sha256(chain[i-1] + " " +
 * diff[i]). out[i] must hold IMG_DIGEST_LEN + 1 bytes. */
void img_chain_ids(const char *const *diff_ids, size_t n, char (*out)[IMG_DIGEST_LEN + 1]);

/* ---- Platforms (platform.c, host_*.c) ------------------------------------------------ */

typedef struct img_host {
    char os[16];         /* "linux", "windows" */
    char arch[16];       /* "amd64", "arm64" */
    char variant[8];     /* "v3", "v8", or "" */
    char os_version[32]; /* Windows: "10.0.20348.2227"; Linux: "" */
    int hyperv;          /* Windows: selecting for Hyper-V isolation */
} img_host;

/* The machine's own platform (host_linux.c / host_win32.c). */
void img_host_detect(img_host *out);

/* Chooses among an index's "manifests" array. Returns the chosen array index, or -1 with
 * WC_NOT_FOUND and a message listing what the index offers. Rules: os and arch equal;
 * variants up to the host's (highest wins); on Windows the os.version rules of process
 * isolation (same major.minor.build, or from host build 20348 on anything from the previous
 * LTSC build up to the host's) or Hyper-V (any build up to the host's), preferring the
 * nearest build and then the highest revision. */
int img_platform_select(const json_t *manifests, const img_host *host, wc_err *err);
/* Whether a container os.version may run on the host (exposed for tests). */
int img_windows_compatible(const char *host_version, const char *ctr_version, int hyperv);

/* ---- Registry authentication (auth.c) ------------------------------------------------ */

typedef struct img_challenge {
    char scheme[16]; /* "Bearer" or "Basic" */
    char *realm;
    char *service;
    char *scope;
    char *error; /* e.g. "insufficient_scope" */
} img_challenge;

/* Parses a WWW-Authenticate value; with several challenges, Bearer is preferred. */
int img_challenge_parse(const char *header, img_challenge *out, wc_err *err);
void img_challenge_clear(img_challenge *c);
/* Splits a base64 "user:password"; both outputs malloc'd. */
int img_auth_decode(const char *b64, char **user, char **pass, wc_err *err);
/* base64 of the bytes (caller frees). */
char *img_base64(const void *p, size_t n);
/* Reads a token server answer: "token" or "access_token", "expires_in" (default 60 s). */
int img_token_parse(const char *body, char **token, int64_t *expires_in, wc_err *err);
/* %-encodes for a query string (caller frees). */
char *img_url_escape(const char *s);
/* The token server request for a Bearer challenge and a scope: the URL to GET (the realm
 * with service and scope query parameters added), or with `form` set the body to POST
 * (service, scope, client_id). Values are %-encoded. Caller frees. */
char *img_token_query(const img_challenge *ch, const char *scope, int form);

/* ---- Cancellation -------------------------------------------------------------------- */

typedef struct img_cancel {
    int (*fn)(void *ctx);
    void *ctx;
    int64_t deadline_ns;
    volatile int *abort_flag; /* set by sibling workers when the pull has failed */
} img_cancel;

/* 0 while the work may continue, else -1 with err set (CANCELLED / DEADLINE_EXCEEDED). */
int img_cancel_check(const img_cancel *c, wc_err *err);

/* ---- Registry client (registry.c) ---------------------------------------------------- */

typedef struct img_registry img_registry;
typedef struct img_session img_session;
typedef struct img_reader img_reader;

/* registries: the config's "registries" object (borrowed). */
int img_registry_new(const json_t *registries, int stall_seconds, img_registry **out, wc_err *err);
void img_registry_free(img_registry *r);

/* A session pulls one repository: it picks endpoints (mirrors, then the origin) and keeps
 * the credentials and the current authorization. */
int img_session_new(img_registry *r, const img_ref *ref, const img_auth *auth,
                    const img_cancel *cancel, img_session **out, wc_err *err);
void img_session_free(img_session *s);
/* "http://127.0.0.1:5000" or the mirror in use (for messages). */
const char *img_session_endpoint(const img_session *s);

/* Fetches a manifest by tag or digest (at most 4 MiB). body, media_type malloc'd. The
 * first endpoint that answers wins; later requests of the session stay on it. */
int img_session_manifest(img_session *s, const char *reference, char **body, size_t *len,
                         char **media_type, wc_err *err);
/* Opens a blob for streaming. */
int img_session_blob(img_session *s, const char *digest, img_reader **out, wc_err *err);

/* A byte stream: returns bytes available at *buf (valid until the next call), 0 at the
 * end, -1 with err set. */
typedef ssize_t (*img_read_fn)(void *ctx, const void **buf, wc_err *err);
typedef struct img_stream {
    img_read_fn read;
    void *ctx;
} img_stream;

ssize_t img_reader_read(img_reader *rd, const void **buf, wc_err *err);
int64_t img_reader_length(const img_reader *rd); /* Content-Length or -1 */
void img_reader_close(img_reader *rd);

/* ---- Layer unpack (unpack.c shared checks; unpack_linux.c / unpack_win32.c) ----------- */

typedef enum { IMG_COMP_NONE, IMG_COMP_GZIP, IMG_COMP_ZSTD } img_compression;

/* Compression of a layer media type; -1 for one that is not a layer we can apply. */
int img_layer_compression(const char *media_type);
/* Normalises a tar member name to a relative path without "." components; refuses ".."
 * components and empty names ("./" → "" is the layer root). out has cap bytes. */
int img_tar_clean_path(const char *name, char *out, size_t cap, wc_err *err);

typedef struct img_unpack_opts {
    int allow_devices; /* character and block devices allowed (root on a normal host) */
} img_unpack_opts;

/* The uncompressed tar stream of a layer blob: decompressed as the media type says (never
 * guessed from the bytes) and hashed as the unpacker reads it, so the layer's diff ID comes
 * from the very bytes that are applied, in one pass. */
typedef struct img_tar_reader img_tar_reader;
/* WC_FAILED_PRECONDITION for a media type that is not a layer we can apply. */
int img_tar_reader_new(const img_stream *blob, const char *media_type, img_tar_reader **out,
                       wc_err *err);
/* The uncompressed bytes (borrowed from the reader). A failure of the blob stream comes out
 * as that stream's own error; bytes that do not decompress as WC_INVALID_ARGUMENT. */
const img_stream *img_tar_reader_stream(img_tar_reader *r);
/* Reads what the unpacker left (end blocks, padding, anything after) and writes the SHA-256
 * of the whole uncompressed stream, "sha256:<hex>", into diff_id (IMG_DIGEST_LEN + 1). */
int img_tar_reader_finish(img_tar_reader *r, char *diff_id, wc_err *err);
void img_tar_reader_free(img_tar_reader *r);

/* Applies one layer blob (a tar stream, compressed as media_type says) into dest, which must
 * not exist yet and is created, and writes the diff ID it computed on the way (the caller
 * compares it with the image config's). On Linux: a directory ready to be an overlayfs
 * lower dir (OCI whiteouts become overlay whiteouts). On Windows: the layer importer's
 * staging folder. On failure dest is removed and err says which entry and why. Reads the
 * decompressed stream to its end; the caller drains what is left of the blob. */
int img_unpack_layer(const img_stream *in, const char *media_type, const char *dest,
                     const img_unpack_opts *opts, char *diff_id, wc_err *err);
/* The platform half of img_unpack_layer (unpack_linux.c / unpack_win32.c): applies an
 * uncompressed tar stream, stopping at its end blocks. */
int img_unpack_tar(const img_stream *tar, const char *dest, const img_unpack_opts *opts,
                   wc_err *err);
/* Windows layer tars: parses the uncompressed stream into layer operations for fn (the
 * Windows layer writer, or a test's recorder), reading it to the end. */
int img_unpack_wl_ops(const img_stream *tar, img_wl_visit_fn fn, void *ctx, wc_err *err);

/* ---- Layer commit (unpack_linux.c / unpack_win32.c; the order in layer_order.c) ------- */

/* 1 when a layer can only be committed after its parents (Windows: ImportLayer reads the
 * parent layers), so a pull commits in layer order, each layer as soon as it and those
 * below it are ready, while later layers still download; 0 when each layer commits as soon
 * as it is unpacked (Linux). */
int img_commit_needs_parents(void);
/* Puts a layer unpacked into tmpdir at dir; tmpdir is gone afterwards. Linux: a rename.
 * Windows: ImportLayer from the staging folder tmpdir with the parent layer folders
 * (immediate parent first; is_base: ProcessBaseImage/ProcessUtilityImage). dir must not
 * exist: the caller holds the layer's commit flight and has moved away whatever was there
 * unverified (img_layer_install). On failure nothing is left at dir. */
int img_commit_layer(const char *tmpdir, const char *dir, const char *const *parents,
                     size_t n_parents, int is_base, wc_err *err);

/* Waits until layer i is ready: 1 when it is staged and needs committing, 0 when it is in
 * the store already, -1 (err set) when the pull has failed. */
typedef int (*img_layer_ready_fn)(void *ctx, size_t i, wc_err *err);
/* Commits layer i (0 = base) given its parents' folders, immediate parent first. */
typedef int (*img_commit_fn)(void *ctx, size_t i, const char *const *parents, size_t n_parents,
                             wc_err *err);
/* For each layer, base first: waits for it (ready), then calls fn for it when it needs
 * committing, with the folders of all layers below it (dirs[i-1] ... dirs[0]); stops at the
 * first failure. */
int img_commit_in_order(const char *const *dirs, size_t n, img_layer_ready_fn ready,
                        img_commit_fn fn, void *ctx, wc_err *err);

/* ---- Files (fsutil_linux.c / fsutil_win32.c) ----------------------------------------- */

char *img_strndup(const char *s, size_t n);
/* Plain file descriptors, binary mode, not inherited by children. */
int img_file_create(const char *path);               /* new file only; -1 with errno */
int img_file_open(const char *path);                 /* for reading; -1 with errno */
int img_file_write(int fd, const void *p, size_t n); /* everything or -1 */
ssize_t img_file_read(int fd, void *buf, size_t cap);
int img_file_close(int fd);
/* Renames, replacing an existing file at `to`; -1 with errno. */
int img_rename(const char *from, const char *to);

int img_mkdir_p(const char *path, wc_err *err);
/* Whether two existing paths are on one filesystem (a rename between them works). */
int img_same_filesystem(const char *a, const char *b);
/* Removes a file or a directory tree; a missing path is fine. */
int img_remove_tree(const char *path, wc_err *err);
int img_path_exists(const char *path);
/* Fills used bytes, inodes and the mount point of dir. */
int img_fs_measure(const char *dir, img_fs_usage *out, wc_err *err);
/* Makes what was written below path durable before the store records it as verified.
 * Linux: syncfs of its filesystem. Windows: nothing yet (see fsutil_win32.c). */
int img_sync_fs(const char *path, wc_err *err);
/* Writes data to path via a temp file beside it + rename. With sync the data is on disk
 * before the rename; without, the caller makes it durable later with img_sync_fs (where
 * img_sync_fs does nothing, Windows, the data is committed here regardless). */
int img_write_file_atomic(const char *path, const void *p, size_t n, int sync, wc_err *err);
/* Reads a whole file (at most max bytes). */
int img_read_file(const char *path, size_t max, char **out, size_t *len, wc_err *err);

#endif
