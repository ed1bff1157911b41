/* Windows argv quoting, path joins and long-path prefixes. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hcs/winstr.h"
#include "common/xalloc.h"

static int is_sep(char c)
{
    return c == '\\' || c == '/';
}

static int has_drive(const char *p)
{
    return isalpha((unsigned char)p[0]) && p[1] == ':';
}

/* "\\?\" and "\\.\": device paths, never normalised. */
static int is_device(const char *p)
{
    return is_sep(p[0]) && is_sep(p[1]) && (p[2] == '?' || p[2] == '.') && is_sep(p[3]);
}

int hcs_path_is_absolute(const char *p)
{
    if (!p)
        return 0;
    if (has_drive(p))
        return is_sep(p[2]);
    return is_sep(p[0]) && is_sep(p[1]);
}

static char *dup_backslashed(const char *s)
{
    char *d = wc_xstrdup(s);
    for (char *c = d; *c; c++)
        if (*c == '/')
            *c = '\\';
    return d;
}

/* Length of base's root: "C:" for drive paths, "\\?\C:" or "\\?\Volume{..}" for device
 * paths, "\\server\share" for UNC; 0 when there is none. */
static size_t root_len(const char *b)
{
    if (has_drive(b))
        return 2;
    if (is_device(b)) {
        const char *e = b + 4;
        if (has_drive(e))
            return 6;
        while (*e && !is_sep(*e))
            e++;
        return (size_t)(e - b);
    }
    if (is_sep(b[0]) && is_sep(b[1])) {
        const char *e = b + 2;
        for (int part = 0; part < 2 && *e; part++) {
            while (*e && !is_sep(*e))
                e++;
            if (part == 0 && *e)
                e++;
        }
        return (size_t)(e - b);
    }
    return 0;
}

char *hcs_path_join(const char *base, const char *rel)
{
    if (!base || !rel || (has_drive(rel) && !is_sep(rel[2])) ||
        (has_drive(base) && base[2] && !is_sep(base[2])))
        return NULL;
    if (hcs_path_is_absolute(rel))
        return is_device(rel) ? wc_xstrdup(rel) : dup_backslashed(rel);
    char *r = dup_backslashed(rel);
    char *b = is_device(base) ? wc_xstrdup(base) : dup_backslashed(base);
    size_t blen = strlen(b);
    if (r[0] == '\\') {
        blen = root_len(b);
    } else {
        while (blen > root_len(b) + (root_len(b) ? 1 : 0) && b[blen - 1] == '\\')
            blen--; /* one separator only */
    }
    int need_sep = r[0] != '\\' && blen && b[blen - 1] != '\\' && r[0];
    size_t n = blen + (size_t)need_sep + strlen(r) + 1;
    char *out = wc_xmalloc(n);
    snprintf(out, n, "%.*s%s%s", (int)blen, b, need_sep ? "\\" : "", r);
    free(r);
    free(b);
    return out;
}

char *hcs_path_long(const char *p)
{
    if (!hcs_path_is_absolute(p))
        return NULL;
    if (is_device(p))
        return wc_xstrdup(p);
    char *bs = dup_backslashed(p);
    const char *prefix = has_drive(bs) ? "\\\\?\\" : "\\\\?\\UNC\\";
    const char *rest = has_drive(bs) ? bs : bs + 2;
    size_t n = strlen(prefix) + strlen(rest) + 1;
    char *out = wc_xmalloc(n);
    snprintf(out, n, "%s%s", prefix, rest);
    free(bs);
    return out;
}

/* Windows argv rules, as CommandLineToArgvW reads them back: an argument needs quotes
 * when it is empty or holds a space or tab; backslashes are literal except right before a
 * double quote (and before the closing quote we add), where each must be doubled; every
 * embedded double quote is escaped with a backslash. */
char *hcs_argv_quote(const char *arg)
{
    size_t len = strlen(arg);
    int quote = len == 0 || strpbrk(arg, " \t") != NULL;
    int escape = strpbrk(arg, "\"\\") != NULL;
    /* Worst case: every character doubled, plus two quotes and the terminator. */
    char *out = wc_xmalloc(2 * len + 3);
    char *w = out;
    if (quote)
        *w++ = '"';
    if (!escape) {
        memcpy(w, arg, len);
        w += len;
    } else {
        size_t slashes = 0;
        for (const char *p = arg; *p; p++) {
            if (*p == '\\') {
                slashes++;
            } else if (*p == '"') {
                /* The run of backslashes before a quote is doubled, then the quote escaped. */
                for (; slashes; slashes--)
                    *w++ = '\\';
                *w++ = '\\';
            } else {
                slashes = 0;
            }
            *w++ = *p;
        }
        /* Backslashes before our closing quote must be doubled too. */
        if (quote)
            for (; slashes; slashes--)
                *w++ = '\\';
    }
    if (quote)
        *w++ = '"';
    *w = '\0';
    return out;
}

char *hcs_argv_join(const char *const *argv, size_t n)
{
    size_t cap = 1, len = 0;
    char *line = wc_xmalloc(cap);
    line[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char *q = hcs_argv_quote(argv[i]);
        size_t ql = strlen(q);
        line = wc_xrealloc(line, cap + ql + 1);
        cap += ql + 1;
        if (i)
            line[len++] = ' ';
        memcpy(line + len, q, ql + 1);
        len += ql;
        free(q);
    }
    return line;
}
