/* Windows layer parsing. The layers are built here: a small PAX tar writer for the
 * MSWINDOWS.* keys (libarchive 3.6 has no API for arbitrary PAX keys and its reader drops
 * them) and libarchive's own PAX writer (gzip-compressed, with SCHILY.xattr.MSWINDOWS.*
 * keys as older go-winio wrote them, and LIBARCHIVE.creationtime). Every op the parser
 * delivers is recorded as one text line and compared entry by entry. */
#include "tests/unit/testutil.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/winlayer.h"

/* ---- a tiny tar writer ---- */

typedef struct tb {
    unsigned char *buf;
    size_t len, cap;
} tb;

static void tb_put(tb *t, const void *p, size_t n)
{
    if (t->len + n > t->cap) {
        t->cap = (t->len + n) * 2 + 4096;
        t->buf = realloc(t->buf, t->cap);
        assert_non_null(t->buf);
    }
    memcpy(t->buf + t->len, p, n);
    t->len += n;
}

static void tb_pad(tb *t)
{
    static const unsigned char zero[512];
    if (t->len % 512)
        tb_put(t, zero, 512 - t->len % 512);
}

static void tb_header(tb *t, const char *name, char type, const char *link, unsigned long long size,
                      unsigned long long mtime)
{
    unsigned char h[512] = {0};
    strncpy((char *)h, name, 100);
    snprintf((char *)h + 100, 8, "%07o", type == '5' ? 0755 : 0644);
    snprintf((char *)h + 108, 8, "%07o", 0);
    snprintf((char *)h + 116, 8, "%07o", 0);
    snprintf((char *)h + 124, 12, "%011llo", size);
    snprintf((char *)h + 136, 12, "%011llo", mtime);
    h[156] = (unsigned char)type;
    if (link)
        strncpy((char *)h + 157, link, 100);
    memcpy(h + 257,
           "ustar\0"
           "00",
           8);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
    tb_put(t, h, 512);
}

/* kv: key, value pairs, NULL-terminated. Writes one 'x' extended header. */
static void tb_pax(tb *t, const char *const *kv)
{
    char *body = NULL;
    size_t blen = 0;
    for (size_t i = 0; kv[i]; i += 2) {
        size_t core = strlen(kv[i]) + strlen(kv[i + 1]) + 3; /* ' ' '=' '\n' */
        size_t len = core + 1;
        for (;;) {
            char d[32];
            size_t want = core + (size_t)snprintf(d, sizeof d, "%zu", len);
            if (want == len)
                break;
            len = want;
        }
        body = realloc(body, blen + len + 1);
        snprintf(body + blen, len + 1, "%zu %s=%s\n", len, kv[i], kv[i + 1]);
        blen += len;
    }
    tb_header(t, "PaxHeaders/x", 'x', NULL, blen, 0);
    tb_put(t, body, blen);
    tb_pad(t);
    free(body);
}

static void tb_file(tb *t, const char *name, const char *data, unsigned long long mtime)
{
    size_t n = data ? strlen(data) : 0;
    tb_header(t, name, '0', NULL, n, mtime);
    if (n) {
        tb_put(t, data, n);
        tb_pad(t);
    }
}

static void tb_end(tb *t)
{
    static const unsigned char zero[1024];
    tb_put(t, zero, 1024);
}

/* ---- an op recorder ---- */

typedef struct rec {
    char *log;
    size_t len;
    int fail_on_add; /* visitor error injection: fail on the Nth ADD */
    int adds;
} rec;

static void rec_printf(rec *r, const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    r->log = realloc(r->log, r->len + (size_t)n + 1);
    memcpy(r->log + r->len, line, (size_t)n + 1);
    r->len += (size_t)n;
}

static const char *kind_name(img_wl_kind k)
{
    switch (k) {
    case IMG_WL_KIND_FILE:
        return "file";
    case IMG_WL_KIND_DIR:
        return "dir";
    case IMG_WL_KIND_SYMLINK:
        return "symlink";
    default:
        return "mountpoint";
    }
}

static int record(void *ctx, const img_wl_op *op, wc_err *err)
{
    rec *r = ctx;
    const img_wl_file *f = op->file;
    switch (op->kind) {
    case IMG_WL_ADD:
        if (r->fail_on_add && ++r->adds == r->fail_on_add)
            return wc_err_set(err, WC_INTERNAL, "disk full");
        rec_printf(r, "ADD %s %s area=%d attr=%u size=%llu wt=%llu ct=%llu", kind_name(f->kind),
                   f->path, (int)f->area, f->attributes, (unsigned long long)f->size,
                   (unsigned long long)f->last_write_time, (unsigned long long)f->creation_time);
        if (f->sd)
            rec_printf(r, " sd=%zu", f->sd_len);
        if (f->sddl)
            rec_printf(r, " sddl=%s", f->sddl);
        for (size_t i = 0; i < f->n_eas; i++)
            rec_printf(r, " ea:%s=%.*s", f->eas[i].name, (int)f->eas[i].len,
                       (const char *)f->eas[i].value);
        if (f->link_target)
            rec_printf(r, " -> %s", f->link_target);
        rec_printf(r, "\n");
        break;
    case IMG_WL_DATA:
        rec_printf(r, "DATA %s \"%.*s\"\n", op->path, (int)op->len, (const char *)op->data);
        break;
    case IMG_WL_STREAM:
        rec_printf(r, "STREAM %s :%s size=%llu\n", op->path, op->stream,
                   (unsigned long long)op->size);
        break;
    case IMG_WL_END:
        rec_printf(r, "END %s\n", op->path);
        break;
    case IMG_WL_LINK:
        rec_printf(r, "LINK %s => %s\n", op->path, op->target);
        break;
    case IMG_WL_REMOVE:
        rec_printf(r, "REMOVE %s\n", op->path);
        break;
    }
    return 0;
}

/* Merges consecutive DATA lines of the same file so the log does not depend on how the
 * input was split. */
static char *merge_data(const char *log)
{
    char *out = calloc(1, strlen(log) + 1);
    const char *s = log;
    char prev_path[1024] = "";
    while (*s) {
        const char *e = strchr(s, '\n');
        size_t n = (size_t)(e - s);
        if (strncmp(s, "DATA ", 5) == 0) {
            const char *q = strchr(s + 5, ' ');
            size_t pl = (size_t)(q - s);
            const char *content = q + 2;
            size_t cl = (size_t)(e - content - 1);
            if (prev_path[0] && strncmp(prev_path, s, pl) == 0 && prev_path[pl] == '\0') {
                /* drop the closing quote and newline, append the content */
                size_t ol = strlen(out);
                out[ol - 2] = '\0';
                strncat(out, content, cl);
                strcat(out, "\"\n");
            } else {
                strncat(out, s, n + 1);
                memcpy(prev_path, s, pl);
                prev_path[pl] = '\0';
            }
        } else {
            prev_path[0] = '\0';
            strncat(out, s, n + 1);
        }
        s = e + 1;
    }
    return out;
}

static int parse_buf(const tb *t, size_t chunk, rec *r, wc_err *err)
{
    img_wl_parser *p = img_wl_parser_new(record, r);
    int rc = 0;
    for (size_t off = 0; off < t->len && rc == 0; off += chunk) {
        size_t n = t->len - off < chunk ? t->len - off : chunk;
        rc = img_wl_parser_feed(p, t->buf + off, n, err);
    }
    if (rc == 0)
        rc = img_wl_parser_finish(p, err);
    img_wl_parser_free(p);
    return rc;
}

/* A self-relative SD: revision 1, control SE_SELF_RELATIVE|SE_DACL_PRESENT, owner at 20
 * (SID S-1-5-32-545, BUILTIN\Users: 16 bytes), no group/SACL/DACL offsets. */
static const unsigned char test_sd[] = {1, 0, 0x04, 0x80, 20, 0, 0, 0, 0,    0, 0, 0,
                                        0, 0, 0,    0,    0,  0, 0, 0, 1,    2, 0, 0,
                                        0, 0, 0,    5,    32, 0, 0, 0, 0x21, 2, 0, 0};

static char *b64(const unsigned char *in, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = malloc((n + 2) / 3 * 4 + 1), *w = o;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        *w++ = tab[v >> 18 & 63];
        *w++ = tab[v >> 12 & 63];
        *w++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *w++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *w = 0;
    return o;
}

#define FT(sec) ((unsigned long long)((sec) + 11644473600ULL) * 10000000ULL)

/* A base-layer-shaped tar with every kind of entry; the shape follows what
 * go-winio's WriteTarFileFromBackupStream and hcsshim's ociwclayer export write. */
static void build_full_layer(tb *t)
{
    char *sd = b64(test_sd, sizeof test_sd);
    tb_header(t, "Files", '5', NULL, 0, 1600000000);
    tb_header(t, "Hives", '5', NULL, 0, 1600000000);
    tb_pax(t, (const char *const[]){"MSWINDOWS.fileattr", "16", "MSWINDOWS.rawsd", sd, NULL});
    tb_header(t, "Files/Windows/", '5', NULL, 0, 1600000000);
    tb_pax(t, (const char *const[]){"MSWINDOWS.fileattr", "32", "MSWINDOWS.rawsd", sd,
                                    "LIBARCHIVE.creationtime", "1500000000.25", "mtime",
                                    "1600000001.5", "MSWINDOWS.xattr.user.tag", "YWJj", NULL});
    tb_file(t, "Files/Windows/notepad.exe", "hello", 1600000001);
    tb_file(t, "Files/Windows/notepad.exe:Zone.Identifier", "zone", 1600000001);
    tb_header(t, "Files/Windows/copy.exe", '1', "Files/Windows/notepad.exe", 0, 1600000000);
    tb_pax(t,
           (const char *const[]){"MSWINDOWS.fileattr", "1040", "MSWINDOWS.mountpoint", "1", NULL});
    tb_header(t, "Files/Documents and Settings", '2', "C:\\Users", 0, 1600000000);
    tb_header(t, "Files/Windows/rel", '2', "notepad.exe", 0, 1600000000);
    tb_header(t, "Files/ProgramData/.wh.old.log", '0', NULL, 0, 1600000000);
    tb_file(t, "Hives/DefaultUser_Delta", "regf", 1600000000);
    tb_header(t, "UtilityVM/Files/EFI", '5', NULL, 0, 1600000000);
    tb_end(t);
    free(sd);
}

static const char *full_layer_expected(void)
{
    static char buf[8192];
    snprintf(buf, sizeof buf,
             "ADD dir Files area=0 attr=16 size=0 wt=%llu ct=%llu\n"
             "END Files\n"
             "ADD dir Hives area=0 attr=16 size=0 wt=%llu ct=%llu\n"
             "END Hives\n"
             "ADD dir Files/Windows area=1 attr=16 size=0 wt=%llu ct=%llu sd=36\n"
             "END Files/Windows\n"
             "ADD file Files/Windows/notepad.exe area=1 attr=32 size=5 wt=%llu ct=%llu sd=36 "
             "ea:user.tag=abc\n"
             "DATA Files/Windows/notepad.exe \"hello\"\n"
             "STREAM Files/Windows/notepad.exe :Zone.Identifier size=4\n"
             "DATA Files/Windows/notepad.exe \"zone\"\n"
             "END Files/Windows/notepad.exe\n"
             "LINK Files/Windows/copy.exe => Files/Windows/notepad.exe\n"
             "ADD mountpoint Files/Documents and Settings area=1 attr=1040 size=0 wt=%llu "
             "ct=%llu -> C:\\Users\n"
             "END Files/Documents and Settings\n"
             "ADD symlink Files/Windows/rel area=1 attr=0 size=0 wt=%llu ct=%llu -> notepad.exe\n"
             "END Files/Windows/rel\n"
             "REMOVE Files/ProgramData/old.log\n"
             "ADD file Hives/DefaultUser_Delta area=2 attr=0 size=4 wt=%llu ct=%llu\n"
             "DATA Hives/DefaultUser_Delta \"regf\"\n"
             "END Hives/DefaultUser_Delta\n"
             "ADD dir UtilityVM/Files/EFI area=3 attr=16 size=0 wt=%llu ct=%llu\n"
             "END UtilityVM/Files/EFI\n",
             FT(1600000000), FT(1600000000), FT(1600000000), FT(1600000000), FT(1600000000),
             FT(1600000000), FT(1600000001) + 5000000ULL, FT(1500000000) + 2500000ULL,
             FT(1600000000), FT(1600000000), FT(1600000000), FT(1600000000), FT(1600000000),
             FT(1600000000), FT(1600000000), FT(1600000000));
    return buf;
}

static void full_layer_op_stream(void **state)
{
    tb t = {0};
    build_full_layer(&t);
    rec r = {0};
    wc_err err = {0};
    assert_int_equal(parse_buf(&t, t.len, &r, &err), 0);
    char *merged = merge_data(r.log);
    assert_string_equal(merged, full_layer_expected());
    free(merged);
    free(r.log);
    free(t.buf);
}

/* The puller feeds bytes as they arrive: any split gives the same ops. */
static void any_split_same_ops(void **state)
{
    tb t = {0};
    build_full_layer(&t);
    size_t chunks[] = {1, 7, 511, 513, 4096};
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        rec r = {0};
        wc_err err = {0};
        assert_int_equal(parse_buf(&t, chunks[i], &r, &err), 0);
        char *merged = merge_data(r.log);
        assert_string_equal(merged, full_layer_expected());
        free(merged);
        free(r.log);
    }
    free(t.buf);
}

static void summary_counts(void **state)
{
    tb t = {0};
    build_full_layer(&t);
    rec r = {0};
    wc_err err = {0};
    img_wl_parser *p = img_wl_parser_new(record, &r);
    assert_int_equal(img_wl_parser_feed(p, t.buf, t.len, &err), 0);
    assert_int_equal(img_wl_parser_finish(p, &err), 0);
    const img_wl_summary *s = img_wl_parser_summary(p);
    assert_int_equal(s->files, 2);
    assert_int_equal(s->dirs, 4);
    assert_int_equal(s->reparse_points, 2);
    assert_int_equal(s->streams, 1);
    assert_int_equal(s->links, 1);
    assert_int_equal(s->removes, 1);
    assert_int_equal(s->bytes, 5 + 4 + 4);
    img_wl_parser_free(p);
    free(r.log);
    free(t.buf);
}

/* SDDL from older writers is passed through; a rawsd beside it wins (go-winio
 * SecurityDescriptorFromTarHeader reads sd first, then rawsd). */
static void sddl_and_rawsd_precedence(void **state)
{
    char *sd = b64(test_sd, sizeof test_sd);
    tb t = {0};
    tb_pax(&t, (const char *const[]){"MSWINDOWS.sd", "O:BAG:SYD:(A;;FA;;;BA)", NULL});
    tb_file(&t, "Files/a", NULL, 0);
    tb_pax(&t, (const char *const[]){"MSWINDOWS.sd", "O:BA", "MSWINDOWS.rawsd", sd, NULL});
    tb_file(&t, "Files/b", NULL, 0);
    tb_end(&t);
    rec r = {0};
    wc_err err = {0};
    assert_int_equal(parse_buf(&t, t.len, &r, &err), 0);
    assert_non_null(strstr(r.log, "ADD file Files/a area=1 attr=0 size=0 wt=116444736000000000 "
                                  "ct=116444736000000000 sddl=O:BAG:SYD:(A;;FA;;;BA)\n"));
    assert_non_null(strstr(r.log, "Files/b area=1 attr=0 size=0 wt=116444736000000000 "
                                  "ct=116444736000000000 sd=36\n"));
    free(r.log);
    free(t.buf);
    free(sd);
}

/* Long names through PAX "path" and ustar "prefix". */
static void long_names(void **state)
{
    char longname[300];
    snprintf(longname, sizeof longname, "Files/%0250d.txt", 7);
    tb t = {0};
    tb_pax(&t, (const char *const[]){"path", longname, NULL});
    tb_file(&t, "Files/short", "x", 0);
    /* ustar split: prefix "Files/deep" + name "leaf" */
    unsigned char h[512];
    tb_header(&t, "leaf", '0', NULL, 0, 0);
    memcpy(h, t.buf + t.len - 512, 512);
    memcpy(h + 345, "Files/deep", 10);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    memcpy(t.buf + t.len - 512, h, 512);
    tb_end(&t);
    rec r = {0};
    wc_err err = {0};
    assert_int_equal(parse_buf(&t, t.len, &r, &err), 0);
    char want[400];
    snprintf(want, sizeof want, "ADD file %s area=1", longname);
    assert_non_null(strstr(r.log, want));
    assert_null(strstr(r.log, "Files/short"));
    assert_non_null(strstr(r.log, "ADD file Files/deep/leaf area=1"));
    free(r.log);
    free(t.buf);
}

/* A layer written by libarchive's own PAX writer, gzip-compressed, read through the
 * decompressing pull API from a file descriptor. libarchive writes xattrs as
 * SCHILY.xattr.NAME (how go-winio before v0.4.8 stored MSWINDOWS.* keys) and the birth
 * time as LIBARCHIVE.creationtime. */
static void libarchive_written_gzip_layer(void **state)
{
    char path[] = "/tmp/wincri-wl-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    struct archive *a = archive_write_new();
    archive_write_set_format_pax(a);
    archive_write_add_filter_gzip(a);
    assert_int_equal(archive_write_open_fd(a, fd), ARCHIVE_OK);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, "Files/app");
    archive_entry_set_filetype(e, AE_IFDIR);
    archive_entry_set_perm(e, 0755);
    archive_entry_set_mtime(e, 1600000000, 0);
    archive_entry_xattr_add_entry(e, "MSWINDOWS.fileattr", "16", 2);
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    archive_entry_clear(e);
    archive_entry_set_pathname(e, "Files/app/run.cmd");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, 9);
    archive_entry_set_mtime(e, 1600000000, 0);
    archive_entry_set_birthtime(e, 1400000000, 500000000);
    archive_entry_xattr_add_entry(e, "MSWINDOWS.fileattr", "33", 2);
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    assert_int_equal(archive_write_data(a, "echo hi\r\n", 9), 9);
    archive_entry_clear(e);
    archive_entry_set_pathname(e, "Files/app/run2.cmd");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_hardlink(e, "Files/app/run.cmd");
    archive_entry_set_size(e, 0);
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    archive_entry_free(e);
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);

    rec r = {0};
    wc_err err = {0};
    img_wl_summary sum;
    assert_int_equal(img_wl_parse_fd(fd, record, &r, &sum, &err), 0);
    close(fd);
    unlink(path);
    char want[1024];
    snprintf(want, sizeof want,
             "ADD dir Files/app area=1 attr=16 size=0 wt=%llu ct=%llu\n"
             "END Files/app\n"
             "ADD file Files/app/run.cmd area=1 attr=33 size=9 wt=%llu ct=%llu\n"
             "DATA Files/app/run.cmd \"echo hi\r\n\"\n"
             "END Files/app/run.cmd\n"
             "LINK Files/app/run2.cmd => Files/app/run.cmd\n",
             FT(1600000000), FT(1600000000), FT(1600000000), FT(1400000000) + 5000000ULL);
    char *merged = merge_data(r.log);
    assert_string_equal(merged, want);
    assert_int_equal(sum.files, 1);
    assert_int_equal(sum.links, 1);
    assert_int_equal(sum.bytes, 9);
    free(merged);
    free(r.log);
}

/* ---- refusals ---- */

typedef struct bad_case {
    const char *name;
    char type;
    const char *link;
    const char *why; /* substring of the error */
} bad_case;

static void malicious_entries_refused(void **state)
{
    static const bad_case cases[] = {
        {"../escape.txt", '0', NULL, "\"..\" component"},
        {"Files/../../escape.txt", '0', NULL, "\"..\" component"},
        {"/Files/abs.txt", '0', NULL, "absolute path"},
        {"C:/Windows/evil.dll", '0', NULL, "drive-letter"},
        {"Files/a\\..\\..\\evil.dll", '0', NULL, "backslash"},
        {"Files/a|b", '0', NULL, "Windows does not allow"},
        {"Other/x.txt", '0', NULL, "outside Files/"},
        {"Files/dir:stream/", '5', NULL, "':' outside"},
        {"Files/link", '1', "../../etc/passwd", "hard link target"},
        {"Files/link", '1', "/etc/passwd", "hard link target"},
        {"Files/link", '1', "Hives/Sam", "leaves Files/"},
        {"Hives/link", '1', "Hives/Sam", "leaves Files/"},
        {"Files/link", '1', "Files/link", "links to itself"},
        {"Files/null", '3', NULL, "device and fifo"},
        {"Files/sda", '4', NULL, "device and fifo"},
        {"Files/pipe", '6', NULL, "device and fifo"},
        {"Files/unc", '2', "\\\\server\\share", "UNC"},
        {"Files/nt", '2', "\\??\\C:\\Windows", "NT object-namespace"},
        {"Files/empty", '2', "", "empty target"},
        {"Files/orphan.txt:stream", '0', NULL, "does not follow its file"},
        {"Files/dir/.wh..wh..opq", '0', NULL, "opaque-directory"},
        {"Hives/.wh.Sam", '0', NULL, "tombstones are allowed only"},
        {"Files/odd", 'V', NULL, "unsupported tar entry type 'V'"},
        {"Files", '0', NULL, "not a directory"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tb t = {0};
        tb_header(&t, "Files/ok", '5', NULL, 0, 0);
        tb_header(&t, cases[i].name, cases[i].type, cases[i].link, 0, 0);
        tb_header(&t, "Files/after", '5', NULL, 0, 0);
        tb_end(&t);
        rec r = {0};
        wc_err err = {0};
        int rc = parse_buf(&t, t.len, &r, &err);
        if (rc != -1 || err.code != WC_INVALID_ARGUMENT || !strstr(err.msg, cases[i].why) ||
            !strstr(err.msg, cases[i].name))
            fail_msg("case %zu (%s): rc=%d code=%d msg=%s", i, cases[i].name, rc, err.code,
                     err.msg);
        /* Nothing after the good entry was delivered, the bad entry included (the good
         * entry may have been closed, since it is complete either way). */
        const char *ok = "ADD dir Files/ok area=1 attr=16 size=0 wt=116444736000000000 "
                         "ct=116444736000000000\n";
        char ok_closed[256];
        snprintf(ok_closed, sizeof ok_closed, "%sEND Files/ok\n", ok);
        if (strcmp(r.log, ok) != 0 && strcmp(r.log, ok_closed) != 0)
            fail_msg("case %zu: unexpected ops:\n%s", i, r.log);
        free(r.log);
        free(t.buf);
    }
}

static void bad_metadata_refused(void **state)
{
    static const char *const bad[][3] = {
        {"MSWINDOWS.rawsd", "not*base64", "not valid base64"},
        {"MSWINDOWS.rawsd", "AAAA", "not a self-relative security descriptor"},
        {"MSWINDOWS.fileattr", "16", "attributes say directory"},
        {"MSWINDOWS.fileattr", "12x", "bad MSWINDOWS.fileattr"},
        {"MSWINDOWS.fileattr", "4294967296", "bad MSWINDOWS.fileattr"},
        {"LIBARCHIVE.creationtime", "yesterday", "bad LIBARCHIVE.creationtime"},
        {"MSWINDOWS.xattr.k", "@@@@", "extended attribute k is not valid base64"},
        {"GNU.sparse.map", "0,10", "sparse"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tb t = {0};
        tb_pax(&t, (const char *const[]){bad[i][0], bad[i][1], NULL});
        tb_file(&t, "Files/victim.txt", "x", 0);
        tb_end(&t);
        rec r = {0};
        wc_err err = {0};
        assert_int_equal(parse_buf(&t, t.len, &r, &err), -1);
        assert_int_equal(err.code, WC_INVALID_ARGUMENT);
        if (!strstr(err.msg, bad[i][2]) || !strstr(err.msg, "Files/victim.txt"))
            fail_msg("case %zu: %s", i, err.msg);
        assert_null(r.log);
        free(t.buf);
    }
}

static void truncated_is_data_loss(void **state)
{
    tb t = {0};
    build_full_layer(&t);
    /* Cut inside notepad.exe's data. */
    size_t cut = 0;
    for (size_t off = 0; off + 512 <= t.len; off += 512)
        if (memcmp(t.buf + off, "Files/Windows/notepad.exe", 26) == 0) {
            cut = off + 512 + 2;
            break;
        }
    assert_true(cut > 0);
    tb part = {.buf = t.buf, .len = cut};
    rec r = {0};
    wc_err err = {0};
    assert_int_equal(parse_buf(&part, 100, &r, &err), -1);
    assert_int_equal(err.code, WC_DATA_LOSS);
    assert_non_null(strstr(err.msg, "truncated"));
    assert_non_null(strstr(err.msg, "notepad.exe"));
    free(r.log);
    free(t.buf);
}

static void corrupt_checksum_refused(void **state)
{
    tb t = {0};
    tb_file(&t, "Files/a", "x", 0);
    tb_end(&t);
    t.buf[10] ^= 1;
    rec r = {0};
    wc_err err = {0};
    assert_int_equal(parse_buf(&t, t.len, &r, &err), -1);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "checksum"));
    free(t.buf);
    free(r.log);
}

static void visitor_error_stops_and_names_entry(void **state)
{
    tb t = {0};
    build_full_layer(&t);
    rec r = {.fail_on_add = 3};
    wc_err err = {0};
    assert_int_equal(parse_buf(&t, t.len, &r, &err), -1);
    assert_int_equal(err.code, WC_INTERNAL);
    assert_string_equal(err.msg, "layer entry \"Files/Windows\": disk full");
    img_wl_parser *p = img_wl_parser_new(record, &r);
    free(r.log);
    r = (rec){.fail_on_add = 1};
    assert_int_equal(img_wl_parser_feed(p, t.buf, t.len, &err), -1);
    assert_int_equal(img_wl_parser_feed(p, t.buf, 10, &err), -1);
    assert_int_equal(err.code, WC_FAILED_PRECONDITION);
    img_wl_parser_free(p);
    free(r.log);
    free(t.buf);
}

/* Missing end-of-archive blocks at an entry boundary are accepted (Go's tar reader returns
 * io.EOF there too); the final file still gets its END. */
static void eof_without_end_blocks(void **state)
{
    tb t = {0};
    tb_file(&t, "Files/a", "x", 0);
    rec r = {0};
    wc_err err = {0};
    assert_int_equal(parse_buf(&t, t.len, &r, &err), 0);
    assert_non_null(strstr(r.log, "END Files/a\n"));
    free(r.log);
    free(t.buf);
}

static int mem_read(void *ctx, void *buf, size_t cap, size_t *got, wc_err *err)
{
    tb *t = ctx;
    size_t n = t->len < 3 ? t->len : 3; /* dribble, like a slow download */
    if (n > cap)
        n = cap;
    memcpy(buf, t->buf, n);
    t->buf += n;
    t->len -= n;
    *got = n;
    return 0;
}

static void pull_api_uncompressed(void **state)
{
    tb t = {0};
    build_full_layer(&t);
    tb cursor = t;
    rec r = {0};
    wc_err err = {0};
    assert_int_equal(img_wl_parse_stream(mem_read, &cursor, record, &r, NULL, &err), 0);
    char *merged = merge_data(r.log);
    assert_string_equal(merged, full_layer_expected());
    free(merged);
    free(r.log);
    free(t.buf);
}

static int failing_read(void *ctx, void *buf, size_t cap, size_t *got, wc_err *err)
{
    return wc_err_set(err, WC_UNAVAILABLE, "registry connection reset");
}

static void pull_api_source_error_kept(void **state)
{
    rec r = {0};
    wc_err err = {0};
    assert_int_equal(img_wl_parse_stream(failing_read, NULL, record, &r, NULL, &err), -1);
    assert_int_equal(err.code, WC_UNAVAILABLE);
    assert_string_equal(err.msg, "registry connection reset");
}

/* ---- codecs ---- */

static void base64_strict(void **state)
{
    uint8_t *o;
    size_t n;
    assert_int_equal(img_wl_base64_decode("YWJj", 4, &o, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(o, "abc", 3);
    free(o);
    assert_int_equal(img_wl_base64_decode("YQ==", 4, &o, &n), 0);
    assert_int_equal(n, 1);
    free(o);
    assert_int_equal(img_wl_base64_decode("", 0, &o, &n), 0);
    assert_int_equal(n, 0);
    free(o);
    assert_int_equal(img_wl_base64_decode("YQ=", 3, &o, &n), -1);
    assert_int_equal(img_wl_base64_decode("Y===", 4, &o, &n), -1);
    assert_int_equal(img_wl_base64_decode("YR==", 4, &o, &n), -1); /* non-canonical */
    assert_int_equal(img_wl_base64_decode("YQ==YQ==", 8, &o, &n), -1);
}

static void pax_times(void **state)
{
    uint64_t ft;
    assert_int_equal(img_wl_pax_time_to_filetime("0", &ft), 0);
    assert_int_equal(ft, 116444736000000000ULL);
    assert_int_equal(img_wl_pax_time_to_filetime("1.123456789", &ft), 0);
    assert_int_equal(ft, 116444736000000000ULL + 11234567ULL);
    assert_int_equal(img_wl_pax_time_to_filetime("-1.5", &ft), 0);
    assert_int_equal(ft, 116444736000000000ULL - 15000000ULL);
    assert_int_equal(img_wl_pax_time_to_filetime("-11644473601", &ft), -1);
    assert_int_equal(img_wl_pax_time_to_filetime("1.", &ft), -1);
    assert_int_equal(img_wl_pax_time_to_filetime("", &ft), -1);
}

static void stream_header_bytes(void **state)
{
    uint8_t b[128];
    long n =
        img_wl_encode_stream_header(IMG_WL_BACKUP_ALTERNATE_DATA, 0x100000004ULL, "z", b, sizeof b);
    /* ":z:$DATA" = 8 UTF-16 units */
    assert_int_equal(n, 20 + 16);
    const uint8_t want[] = {4, 0, 0,   0, 0,   0, 0,   0, 4,   0, 0,   0, 1,   0, 0,   0, 16,  0,
                            0, 0, ':', 0, 'z', 0, ':', 0, '$', 0, 'D', 0, 'A', 0, 'T', 0, 'A', 0};
    assert_memory_equal(b, want, sizeof want);
    assert_int_equal(img_wl_encode_stream_header(IMG_WL_BACKUP_DATA, 5, NULL, b, sizeof b), 20);
    assert_int_equal(b[16], 0);
    assert_int_equal(img_wl_encode_stream_header(IMG_WL_BACKUP_DATA, 5, NULL, b, 19), -1);
}

static void ea_encoding(void **state)
{
    const img_wl_ea eas[] = {{"ab", (const uint8_t *)"xyz", 3}, {"c", (const uint8_t *)"", 0}};
    uint8_t *o;
    size_t n;
    assert_int_equal(img_wl_encode_eas(eas, 2, &o, &n), 0);
    /* entry 1: 8 + 2 + 1 + 3 = 14 -> padded 16; entry 2: 8 + 1 + 1 = 10, unpadded */
    const uint8_t want[] = {16,  0, 0, 0, 0, 2, 3, 0, 'a', 'b', 0, 'x', 'y',
                            'z', 0, 0, 0, 0, 0, 0, 0, 1,   0,   0, 'c', 0};
    assert_int_equal(n, sizeof want);
    assert_memory_equal(o, want, sizeof want);
    free(o);
    char big[300];
    memset(big, 'n', sizeof big - 1);
    big[sizeof big - 1] = 0;
    const img_wl_ea bad[] = {{big, NULL, 0}};
    assert_int_equal(img_wl_encode_eas(bad, 1, &o, &n), -1);
}

static void reparse_encoding(void **state)
{
    uint8_t *o;
    size_t n;
    /* Junction to C:\U: substitute "\??\C:\U" (8 units), print "C:\U" (4 units). */
    assert_int_equal(img_wl_encode_reparse("C:\\U", 1, &o, &n), 0);
    assert_int_equal(n, 8 + 8 + (9 + 5) * 2);
    const uint8_t head[] = {0x03, 0, 0, 0xA0, 36, 0, 0, 0, 0, 0, 16, 0, 18, 0, 8, 0};
    assert_memory_equal(o, head, sizeof head);
    assert_memory_equal(o + 16, "\\\0?\0?\0\\\0C\0:\0\\\0U\0\0\0", 18);
    assert_memory_equal(o + 34, "C\0:\0\\\0U\0\0\0", 10);
    free(o);
    /* Relative symlink: flags 1, same text in both names. */
    assert_int_equal(img_wl_encode_reparse("a/b", 0, &o, &n), 0);
    const uint8_t shead[] = {0x0C, 0, 0, 0xA0, 28, 0, 0, 0, 0, 0, 6, 0, 8, 0, 6, 0, 1, 0, 0, 0};
    assert_memory_equal(o, shead, sizeof shead);
    assert_memory_equal(o + 20, "a\0\\\0b\0\0\0", 8);
    free(o);
    assert_int_equal(img_wl_encode_reparse("", 0, &o, &n), -1);
}

static void sd_shape(void **state)
{
    assert_int_equal(img_wl_sd_check(test_sd, sizeof test_sd), 0);
    unsigned char bad[sizeof test_sd];
    memcpy(bad, test_sd, sizeof bad);
    bad[3] = 0; /* not self-relative */
    assert_int_equal(img_wl_sd_check(bad, sizeof bad), -1);
    memcpy(bad, test_sd, sizeof bad);
    bad[4] = 200; /* owner offset past the end */
    assert_int_equal(img_wl_sd_check(bad, sizeof bad), -1);
    assert_int_equal(img_wl_sd_check(test_sd, 12), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_layer_op_stream),
        cmocka_unit_test(any_split_same_ops),
        cmocka_unit_test(summary_counts),
        cmocka_unit_test(sddl_and_rawsd_precedence),
        cmocka_unit_test(long_names),
        cmocka_unit_test(libarchive_written_gzip_layer),
        cmocka_unit_test(malicious_entries_refused),
        cmocka_unit_test(bad_metadata_refused),
        cmocka_unit_test(truncated_is_data_loss),
        cmocka_unit_test(corrupt_checksum_refused),
        cmocka_unit_test(visitor_error_stops_and_names_entry),
        cmocka_unit_test(eof_without_end_blocks),
        cmocka_unit_test(pull_api_uncompressed),
        cmocka_unit_test(pull_api_source_error_kept),
        cmocka_unit_test(base64_strict),
        cmocka_unit_test(pax_times),
        cmocka_unit_test(stream_header_bytes),
        cmocka_unit_test(ea_encoding),
        cmocka_unit_test(reparse_encoding),
        cmocka_unit_test(sd_shape),
    };
    return cmocka_run_group_tests_name("winlayer", tests, NULL, NULL);
}
