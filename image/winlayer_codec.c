/* Pure byte-level pieces of Windows layer handling: base64, security-descriptor shape,
 * PAX times to FILETIME, and the BackupWrite stream encodings (WIN32_STREAM_ID,
 * FILE_FULL_EA_INFORMATION, REPARSE_DATA_BUFFER). Layouts from the Win32 documentation
 * and go-winio (backup.go, ea.go, reparse.go). */
#include "image/winlayer.h"
#include "common/xalloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Seconds between 1601-01-01 and 1970-01-01. */
#define EPOCH_DIFF 11644473600LL

uint64_t img_wl_unix_to_filetime(int64_t sec, uint32_t nsec)
{
    if (sec < -EPOCH_DIFF)
        return 0;
    return (uint64_t)(sec + EPOCH_DIFF) * 10000000u + nsec / 100u;
}

int img_wl_pax_time_to_filetime(const char *s, uint64_t *ft)
{
    bool neg = false;
    if (*s == '-') {
        neg = true;
        s++;
    }
    if (*s < '0' || *s > '9')
        return -1;
    int64_t sec = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (sec > (INT64_MAX / 10) - 10)
            return -1;
        sec = sec * 10 + (*s - '0');
    }
    int64_t frac = 0; /* in 100 ns units */
    if (*s == '.') {
        s++;
        int digits = 0;
        if (*s < '0' || *s > '9')
            return -1;
        for (; *s >= '0' && *s <= '9'; s++, digits++)
            if (digits < 7)
                frac = frac * 10 + (*s - '0');
        for (; digits < 7; digits++)
            frac *= 10;
    }
    if (*s)
        return -1;
    if (sec > INT64_MAX / 10000000 - EPOCH_DIFF)
        return -1;
    int64_t v = (sec + (neg ? -EPOCH_DIFF : EPOCH_DIFF)) * 10000000;
    if (neg)
        v = -v - frac; /* -(sec.frac) + epoch */
    else
        v += frac;
    if (v < 0)
        return -1;
    *ft = (uint64_t)v;
    return 0;
}

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int img_wl_base64_decode(const char *in, size_t n, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (n % 4)
        return -1;
    uint8_t *buf = wc_xmalloc(n / 4 * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            unsigned char c = (unsigned char)in[i + (size_t)j];
            if (c == '=' && i + 4 == n && j >= 2) {
                v[j] = 0;
                pad++;
            } else if (pad || (v[j] = b64_val(c)) < 0) {
                free(buf);
                return -1;
            }
        }
        uint32_t w = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) |
                     (uint32_t)v[3];
        /* Non-canonical trailing bits are refused, as Go's StdEncoding does in strict mode. */
        if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff))) {
            free(buf);
            return -1;
        }
        buf[o++] = (uint8_t)(w >> 16);
        if (pad < 2)
            buf[o++] = (uint8_t)(w >> 8);
        if (pad < 1)
            buf[o++] = (uint8_t)w;
    }
    *out = buf;
    *out_len = o;
    return 0;
}

static uint32_t le32(const uint8_t *b)
{
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

static void put16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *b, uint32_t v)
{
    put16(b, (uint16_t)v);
    put16(b + 2, (uint16_t)(v >> 16));
}

int img_wl_sd_check(const uint8_t *sd, size_t len)
{
    /* SECURITY_DESCRIPTOR_RELATIVE: Revision(1) Sbz1(1) Control(2) Owner Group Sacl Dacl */
    if (!sd || len < 20 || sd[0] != 1)
        return -1;
    uint16_t control = (uint16_t)(sd[2] | (sd[3] << 8));
    if (!(control & 0x8000)) /* SE_SELF_RELATIVE */
        return -1;
    for (int i = 0; i < 4; i++) {
        uint32_t off = le32(sd + 4 + 4 * i);
        if (off && (off < 20 || off >= len))
            return -1;
    }
    return 0;
}

/* UTF-8 to UTF-16LE; returns the number of UTF-16 units, -1 on invalid UTF-8. With
 * out == NULL it only counts. */
static long utf8_to_utf16le(const char *s, uint8_t *out)
{
    const unsigned char *p = (const unsigned char *)s;
    long n = 0;
    while (*p) {
        uint32_t cp;
        int extra;
        if (*p < 0x80) {
            cp = *p;
            extra = 0;
        } else if ((*p & 0xe0) == 0xc0) {
            cp = *p & 0x1f;
            extra = 1;
        } else if ((*p & 0xf0) == 0xe0) {
            cp = *p & 0x0f;
            extra = 2;
        } else if ((*p & 0xf8) == 0xf0) {
            cp = *p & 0x07;
            extra = 3;
        } else {
            return -1;
        }
        p++;
        for (int i = 0; i < extra; i++, p++) {
            if ((*p & 0xc0) != 0x80)
                return -1;
            cp = (cp << 6) | (*p & 0x3f);
        }
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || (extra == 1 && cp < 0x80) ||
            (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000))
            return -1;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            if (out) {
                put16(out + 2 * n, (uint16_t)(0xd800 + (cp >> 10)));
                put16(out + 2 * n + 2, (uint16_t)(0xdc00 + (cp & 0x3ff)));
            }
            n += 2;
        } else {
            if (out)
                put16(out + 2 * n, (uint16_t)cp);
            n++;
        }
    }
    return n;
}

long img_wl_encode_stream_header(uint32_t id, uint64_t size, const char *name, uint8_t *out,
                                 size_t cap)
{
    /* dwStreamId, dwStreamAttributes, Size (LARGE_INTEGER), dwStreamNameSize, cStreamName */
    char *full = NULL;
    long units = 0;
    if (id == IMG_WL_BACKUP_ALTERNATE_DATA) {
        if (!name || !*name)
            return -1;
        size_t n = strlen(name);
        full = wc_xmalloc(n + 8);
        full[0] = ':';
        memcpy(full + 1, name, n);
        memcpy(full + 1 + n, ":$DATA", 7);
        units = utf8_to_utf16le(full, NULL);
    }
    if (units < 0 || 20 + (size_t)units * 2 > cap) {
        free(full);
        return -1;
    }
    put32(out, id);
    put32(out + 4, 0);
    put32(out + 8, (uint32_t)size);
    put32(out + 12, (uint32_t)(size >> 32));
    put32(out + 16, (uint32_t)(units * 2));
    if (full)
        utf8_to_utf16le(full, out + 20);
    free(full);
    return 20 + units * 2;
}

int img_wl_encode_eas(const img_wl_ea *eas, size_t n, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(eas[i].name);
        if (nl == 0 || nl > 255 || eas[i].len > 65535)
            return -1;
        size_t entry = 8 + nl + 1 + eas[i].len;
        total += (entry + 3) & ~(size_t)3;
    }
    uint8_t *buf = wc_xcalloc(1, total ? total : 1);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(eas[i].name);
        size_t entry = 8 + nl + 1 + eas[i].len;
        size_t padded = (entry + 3) & ~(size_t)3;
        bool last = (i + 1 == n);
        /* The last entry is not padded (go-winio pads every entry; either is accepted by
         * NtSetEaFile, but the trailing pad bytes would then be counted in the size). */
        put32(buf + off, last ? 0 : (uint32_t)padded);
        buf[off + 4] = 0; /* flags: none are meaningful for persisted EAs */
        buf[off + 5] = (uint8_t)nl;
        put16(buf + off + 6, (uint16_t)eas[i].len);
        memcpy(buf + off + 8, eas[i].name, nl);
        buf[off + 8 + nl] = 0;
        if (eas[i].len)
            memcpy(buf + off + 9 + nl, eas[i].value, eas[i].len);
        off += last ? entry : padded;
    }
    *out = buf;
    *out_len = off;
    return 0;
}

static bool is_drive_abs(const char *t)
{
    return ((t[0] >= 'a' && t[0] <= 'z') || (t[0] >= 'A' && t[0] <= 'Z')) && t[1] == ':';
}

int img_wl_encode_reparse(const char *target, int mount_point, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (!target || !*target)
        return -1;
    bool relative = !is_drive_abs(target) && target[0] != '\\' && target[0] != '/';
    /* Substitute name: NT form for drive-absolute targets; print name: as given. */
    size_t tl = strlen(target);
    char *nt = wc_xmalloc(tl + 5);
    if (is_drive_abs(target)) {
        memcpy(nt, "\\??\\", 4);
        memcpy(nt + 4, target, tl + 1);
    } else {
        memcpy(nt, target, tl + 1);
    }
    for (char *c = nt; *c; c++)
        if (*c == '/')
            *c = '\\';
    char *print = wc_xmalloc(tl + 1);
    memcpy(print, target, tl + 1);
    for (char *c = print; *c; c++)
        if (*c == '/')
            *c = '\\';
    long sub_units = utf8_to_utf16le(nt, NULL);
    long print_units = utf8_to_utf16le(print, NULL);
    if (sub_units < 0 || print_units < 0) {
        free(nt);
        free(print);
        return -1;
    }
    /* Both names are stored NUL-terminated though their lengths exclude the NUL. */
    size_t names = (size_t)(sub_units + 1 + print_units + 1) * 2;
    size_t hdr_extra = mount_point ? 8 : 12; /* 4 USHORTs, plus ULONG Flags for symlinks */
    size_t data_len = hdr_extra + names;
    if (data_len > 0xffff) {
        free(nt);
        free(print);
        return -1;
    }
    uint8_t *buf = wc_xcalloc(1, 8 + data_len);
    put32(buf, mount_point ? 0xA0000003u : 0xA000000Cu);
    put16(buf + 4, (uint16_t)data_len);
    put16(buf + 6, 0);
    put16(buf + 8, 0);                                /* SubstituteNameOffset */
    put16(buf + 10, (uint16_t)(sub_units * 2));       /* SubstituteNameLength */
    put16(buf + 12, (uint16_t)((sub_units + 1) * 2)); /* PrintNameOffset */
    put16(buf + 14, (uint16_t)(print_units * 2));     /* PrintNameLength */
    uint8_t *path_buf = buf + 16;
    if (!mount_point) {
        put32(buf + 16, relative ? 1u : 0u); /* SYMLINK_FLAG_RELATIVE */
        path_buf = buf + 20;
    }
    utf8_to_utf16le(nt, path_buf);
    utf8_to_utf16le(print, path_buf + (size_t)(sub_units + 1) * 2);
    free(nt);
    free(print);
    *out = buf;
    *out_len = 8 + data_len;
    return 0;
}
