/* wincri's own share of a Windows pull, timed under wine on the simulated host
 * (tests/bench/bench_winpull.py builds it with build_winpull.sh and runs it). For each
 * layer, base first, and each round:
 *   parse   the uncompressed layer tar, in memory, through the Windows layer parser
 *           (image/winlayer.c) to a visitor that only counts: the parser alone;
 *   decode  the compressed blob from a file through gunzip, the diff-ID hash and the parser,
 *           writing nothing;
 *   unpack  the compressed blob from a file through what a pull runs per layer
 *           (img_unpack_layer: gunzip, diff-ID hash, parser, the BackupWrite staging writer
 *           of winlayer_win32.c) into a staging folder;
 *   import  the staging folder into a layer folder (img_commit_layer: a base layer restored
 *           in place with BackupWrite and ProcessBaseImage, the others ImportLayer with their
 *           parents, through the winsim doubles).
 * One JSON line per layer and round on stdout; the script turns them into MB/s.
 *
 * Usage: winpull_bench.exe WORKDIR ROUNDS LAYER0.tar LAYER0.tar.gz [LAYER1.tar LAYER1.tar.gz ..]
 * computecore.dll is loaded first: with WINSIM_WINE_BACKUPWRITE=1 it supplies the BackupWrite
 * wine 8 lacks (tests/windows/sim/winegaps.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "common/clock.h"
#include "common/xalloc.h"
#include "image/img_internal.h"
#include "image/winlayer.h"

#define CHUNK (1u << 20)

typedef struct counter {
    uint64_t ops, bytes;
} counter;

static int count_op(void *ctx, const img_wl_op *op, wc_err *err)
{
    (void)err;
    counter *c = ctx;
    c->ops++;
    if (op->kind == IMG_WL_DATA)
        c->bytes += op->len;
    return 0;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = wc_xmalloc(n > 0 ? (size_t)n : 1);
    *len = fread(buf, 1, n > 0 ? (size_t)n : 0, f);
    fclose(f);
    return buf;
}

static double secs_since(int64_t t0)
{
    return (double)(wc_clock_monotonic_ns() - t0) / 1e9;
}

/* The parser alone, fed 1 MiB at a time as the pull feeds it. */
static int time_parse(const char *tar, size_t len, double *secs, counter *c, wc_err *err)
{
    int64_t t0 = wc_clock_monotonic_ns();
    img_wl_parser *p = img_wl_parser_new(count_op, c);
    int rc = 0;
    for (size_t off = 0; rc == 0 && off < len; off += CHUNK)
        rc = img_wl_parser_feed(p, tar + off, len - off < CHUNK ? len - off : CHUNK, err);
    if (rc == 0)
        rc = img_wl_parser_finish(p, err);
    img_wl_parser_free(p);
    *secs = secs_since(t0);
    return rc;
}

typedef struct file_src {
    int fd;
    char *buf;
} file_src;

static ssize_t file_read(void *ctx, const void **buf, wc_err *err)
{
    file_src *f = ctx;
    ssize_t n = img_file_read(f->fd, f->buf, CHUNK);
    if (n < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "read blob");
    *buf = f->buf;
    return n;
}

static int file_open(file_src *f, const char *blob, wc_err *err)
{
    f->fd = img_file_open(blob);
    if (f->fd < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "open %s", blob);
    f->buf = wc_xmalloc(CHUNK);
    return 0;
}

/* The blob through gunzip, the diff-ID hash and the parser, writing nothing: the unpack less
 * its staging writes. */
static int time_decode(const char *blob, double *secs, wc_err *err)
{
    file_src f;
    if (file_open(&f, blob, err) < 0)
        return -1;
    img_stream in = {file_read, &f};
    char diff_id[IMG_DIGEST_LEN + 1];
    counter c = {0};
    img_tar_reader *r = NULL;
    int64_t t0 = wc_clock_monotonic_ns();
    int rc = img_tar_reader_new(&in, "application/vnd.oci.image.layer.v1.tar+gzip", &r, err);
    if (rc == 0)
        rc = img_unpack_wl_ops(img_tar_reader_stream(r), count_op, &c, err);
    if (rc == 0)
        rc = img_tar_reader_finish(r, diff_id, err);
    *secs = secs_since(t0);
    img_tar_reader_free(r);
    img_file_close(f.fd);
    free(f.buf);
    return rc;
}

/* The blob through the pull's per-layer path into a staging folder. */
static int time_unpack(const char *blob, const char *staging, double *secs, wc_err *err)
{
    file_src f;
    if (file_open(&f, blob, err) < 0)
        return -1;
    img_stream in = {file_read, &f};
    char diff_id[IMG_DIGEST_LEN + 1];
    int64_t t0 = wc_clock_monotonic_ns();
    int rc = img_unpack_layer(&in, "application/vnd.oci.image.layer.v1.tar+gzip", staging, NULL,
                              diff_id, err);
    *secs = secs_since(t0);
    img_file_close(f.fd);
    free(f.buf);
    return rc;
}

static char *path_of(const char *dir, const char *fmt, int round, int layer)
{
    char name[64];
    snprintf(name, sizeof name, fmt, round, layer);
    return wc_xasprintf("%s\\%s", dir, name);
}

static int bench_layer(const char *work, int round, int i, char **layers, char **argv, wc_err *err)
{
    size_t tar_len = 0, blob_len = 0;
    char *tar = slurp(argv[3 + 2 * i], &tar_len), *blob = slurp(argv[4 + 2 * i], &blob_len);
    free(blob);
    if (!tar)
        return wc_err_set(err, WC_NOT_FOUND, "cannot read %s", argv[3 + 2 * i]);
    counter c = {0};
    double parse_s = 0, decode_s = 0, unpack_s = 0, import_s = 0;
    char *staging = path_of(work, "r%d-staging%d", round, i);
    int rc = time_parse(tar, tar_len, &parse_s, &c, err);
    free(tar);
    if (rc == 0)
        rc = time_decode(argv[4 + 2 * i], &decode_s, err);
    if (rc == 0)
        rc = time_unpack(argv[4 + 2 * i], staging, &unpack_s, err);
    if (rc == 0) {
        /* parents immediate-parent first, as the pull hands them over */
        const char **parents = wc_xcalloc((size_t)i + 1, sizeof *parents);
        for (int k = 0; k < i; k++)
            parents[k] = layers[i - 1 - k];
        int64_t t0 = wc_clock_monotonic_ns();
        rc = img_commit_layer(staging, layers[i], parents, (size_t)i, i == 0, err);
        import_s = secs_since(t0);
        free(parents);
    }
    free(staging);
    if (rc == 0)
        printf("{\"round\":%d,\"layer\":%d,\"tar_bytes\":%zu,\"blob_bytes\":%zu,\"ops\":%llu,"
               "\"data_bytes\":%llu,\"parse_s\":%.6f,\"decode_s\":%.6f,\"unpack_s\":%.6f,"
               "\"import_s\":%.6f}\n",
               round, i, tar_len, blob_len, (unsigned long long)c.ops, (unsigned long long)c.bytes,
               parse_s, decode_s, unpack_s, import_s);
    fflush(stdout);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 5 || (argc - 3) % 2 != 0) {
        fprintf(stderr, "usage: %s WORKDIR ROUNDS LAYER.tar LAYER.tar.gz ...\n", argv[0]);
        return 2;
    }
    LoadLibraryA("computecore.dll"); /* the BackupWrite of winsim's wine gaps */
    const char *work = argv[1];
    int rounds = atoi(argv[2]), n = (argc - 3) / 2;
    for (int r = 0; r < rounds; r++) {
        char **layers = wc_xcalloc((size_t)n, sizeof *layers);
        for (int i = 0; i < n; i++)
            layers[i] = path_of(work, "r%d-layer%d", r, i);
        wc_err err = {0};
        int rc = 0;
        for (int i = 0; rc == 0 && i < n; i++)
            rc = bench_layer(work, r, i, layers, argv, &err);
        for (int i = 0; i < n; i++)
            free(layers[i]);
        free(layers);
        if (rc != 0) {
            fprintf(stderr, "winpull_bench: %s\n", err.msg);
            return 1;
        }
    }
    return 0;
}
