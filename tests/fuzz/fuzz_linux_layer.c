/* Linux layer tars (image/unpack_linux.c): a layer as a registry serves it (plain, gzip or
 * zstd), read in fuzzed read sizes and unpacked into a directory on a private tmpfs, the
 * rest of the system read-only (fuzz_scratch_dir). Beside the layer sits a canary
 * directory: an unpack that touches it, leaves anything else behind, or runs into the
 * read-only system (something tried to write outside the layer) is a finding. The layer
 * is wiped after every input.
 *
 * Input: one byte (media type: bits 0-1; device nodes allowed: bit 2; read size: bits
 * 3-7), then the layer blob. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/img_internal.h"
#include "tests/fuzz/fuzz.h"

static char layer[PATH_MAX], canary[PATH_MAX], canary_file[PATH_MAX], scratch[PATH_MAX];

static const char *const media_types[] = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    snprintf(scratch, sizeof scratch, "%s", fuzz_scratch_dir(*argc, *argv));
    snprintf(layer, sizeof layer, "%s/layer", scratch);
    snprintf(canary, sizeof canary, "%s/canary", scratch);
    snprintf(canary_file, sizeof canary_file, "%s/canary/keep", scratch);
    int fd;
    if (mkdir(canary, 0755) < 0 ||
        (fd = open(canary_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0 ||
        write(fd, "canary", 6) != 6 || close(fd) < 0) {
        perror("fuzz: set up the canary");
        exit(1);
    }
    return 0;
}

typedef struct mem_stream {
    const uint8_t *p;
    size_t n, chunk;
} mem_stream;

static ssize_t mem_read(void *ctx, const void **buf, wc_err *err)
{
    mem_stream *m = ctx;
    size_t k = m->n < m->chunk ? m->n : m->chunk;
    *buf = m->p;
    m->p += k;
    m->n -= k;
    return (ssize_t)k;
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

static void finding(const char *what)
{
    fprintf(stderr, "fuzz: %s\n", what);
    abort();
}

/* The scratch directory holds the canary and (after a success) the layer, nothing else;
 * the canary is as it was. */
static void check_surroundings(int unpacked)
{
    DIR *d = opendir(scratch);
    struct dirent *e;
    int seen_layer = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strcmp(e->d_name, "canary") == 0)
            continue;
        if (strcmp(e->d_name, "layer") == 0 && unpacked)
            seen_layer = 1;
        else
            finding("something was left beside the layer directory");
    }
    closedir(d);
    if (unpacked && !seen_layer)
        finding("a successful unpack left no layer directory");
    struct stat st;
    char buf[16];
    int fd = open(canary_file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
    if (fd < 0 || n != 6 || memcmp(buf, "canary", 6) != 0 || fstat(fd, &st) < 0 ||
        st.st_nlink != 1 || !S_ISREG(st.st_mode))
        finding("the canary beside the layer was touched");
    close(fd);
    d = opendir(canary);
    int entries = 0;
    while ((e = readdir(d)) != NULL)
        entries++;
    closedir(d);
    if (entries != 3)
        finding("something was written into the canary directory");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t setup = data[0];
    mem_stream m = {data + 1, size - 1, 1 + (size_t)(setup >> 3) * 997};
    img_stream in = {mem_read, &m};
    img_unpack_opts opts = {.allow_devices = (setup >> 2) & 1};
    wc_err err = {0};
    char diff_id[IMG_DIGEST_LEN + 1];
    int rc = img_unpack_layer(&in, media_types[setup & 3], layer, &opts, diff_id, &err);
    if (rc < 0) {
        if (err.sys == EROFS || err.sys == EXDEV || ends_with(err.msg, strerror(EROFS)) ||
            ends_with(err.msg, strerror(EXDEV)))
            finding(err.msg); /* it tried to write outside the layer */
        if (err.code != WC_INVALID_ARGUMENT && err.code != WC_INTERNAL)
            finding(err.msg);
    }
    check_surroundings(rc == 0);
    if (rc == 0) {
        fuzz_wipe(layer);
        if (rmdir(layer) < 0)
            finding("the layer could not be wiped");
    }
    return 0;
}
