/* Image references: [domain/]path[:tag][@digest], normalised the way Docker does. */
#include "image/img_internal.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REF_NAME_MAX 255
#define TAG_MAX 128

void img_ref_clear(img_ref *r)
{
    free(r->domain);
    free(r->path);
    free(r->tag);
    free(r->digest);
    memset(r, 0, sizeof *r);
}

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_hex64(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return 0;
    return n == 64;
}

int img_digest_valid(const char *d)
{
    return d && strncmp(d, "sha256:", 7) == 0 && is_hex64(d + 7);
}

/* One path component: lowercase alphanumerics joined by ".", "_", "__" or runs of "-". */
static int component_valid(const char *s, size_t n)
{
    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return 0;
    size_t i = 0;
    while (i < n) {
        if (is_lower_alnum(s[i])) {
            i++;
            continue;
        }
        size_t run = i;
        while (run < n && !is_lower_alnum(s[run]))
            run++;
        size_t len = run - i;
        int dashes = 1;
        for (size_t k = i; k < run; k++)
            dashes &= s[k] == '-';
        int ok = dashes || (len == 1 && (s[i] == '.' || s[i] == '_')) ||
                 (len == 2 && s[i] == '_' && s[i + 1] == '_');
        if (!ok)
            return 0;
        i = run;
    }
    return 1;
}

static int path_valid(const char *p)
{
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (!component_valid(p, n))
            return 0;
        if (!slash)
            return 1;
        p = slash + 1;
        if (!*p)
            return 0;
    }
    return 0;
}

/* host[:port] where host is a DNS name, an IPv4 address or [IPv6]. */
static int domain_valid(const char *d)
{
    const char *port = NULL;
    if (d[0] == '[') {
        const char *close = strchr(d, ']');
        if (!close || close == d + 1)
            return 0;
        for (const char *c = d + 1; c < close; c++)
            if (!isxdigit((unsigned char)*c) && *c != ':' && *c != '.')
                return 0;
        if (close[1] == ':')
            port = close + 2;
        else if (close[1])
            return 0;
    } else {
        const char *colon = strchr(d, ':');
        size_t n = colon ? (size_t)(colon - d) : strlen(d);
        if (n == 0 || d[0] == '-' || d[0] == '.' || d[n - 1] == '-' || d[n - 1] == '.')
            return 0;
        for (size_t i = 0; i < n; i++)
            if (!isalnum((unsigned char)d[i]) && d[i] != '-' && d[i] != '.')
                return 0;
        if (colon)
            port = colon + 1;
    }
    if (port) {
        if (!*port || strlen(port) > 5)
            return 0;
        for (const char *c = port; *c; c++)
            if (!isdigit((unsigned char)*c))
                return 0;
    }
    return 1;
}

static int tag_valid(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > TAG_MAX)
        return 0;
    if (!isalnum((unsigned char)t[0]) && t[0] != '_')
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)t[i]) && t[i] != '_' && t[i] != '.' && t[i] != '-')
            return 0;
    return 1;
}

/* Whether the first component names a registry host rather than a path. */
static int looks_like_domain(const char *first, size_t n)
{
    if (n == 9 && strncmp(first, "localhost", 9) == 0)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (first[i] == '.' || first[i] == ':' || first[i] == '[' ||
            isupper((unsigned char)first[i]))
            return 1;
    return 0;
}

static int split_digest(char *work, img_ref *out, const char *s, wc_err *err)
{
    char *at = strchr(work, '@');
    if (!at)
        return 0;
    *at = '\0';
    const char *d = at + 1;
    if (strncmp(d, "sha256:", 7) != 0) {
        const char *colon = strchr(d, ':');
        if (colon && colon != d)
            return wc_err_set(err, WC_INVALID_ARGUMENT,
                              "image reference \"%s\": unsupported digest algorithm \"%.*s\" "
                              "(only sha256)",
                              s, (int)(colon - d), d);
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "image reference \"%s\": digest \"%s\" is not algorithm:hex", s, d);
    }
    if (!img_digest_valid(d))
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "image reference \"%s\": digest must be sha256: and 64 lowercase hex "
                          "digits",
                          s);
    out->digest = wc_xstrdup(d);
    return 0;
}

static int split_tag(char *work, img_ref *out, const char *s, wc_err *err)
{
    char *slash = strrchr(work, '/');
    char *colon = strrchr(slash ? slash : work, ':');
    if (!colon)
        return 0;
    *colon = '\0';
    if (!tag_valid(colon + 1))
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "image reference \"%s\": invalid tag \"%s\" (letters, digits, _ . -; "
                          "at most 128)",
                          s, colon + 1);
    out->tag = wc_xstrdup(colon + 1);
    return 0;
}

static int split_domain(const char *name, img_ref *out, const char *s, wc_err *err)
{
    const char *slash = strchr(name, '/');
    if (slash && looks_like_domain(name, (size_t)(slash - name))) {
        out->domain = img_strndup(name, (size_t)(slash - name));
        if (!domain_valid(out->domain))
            return wc_err_set(err, WC_INVALID_ARGUMENT,
                              "image reference \"%s\": invalid registry host \"%s\"", s,
                              out->domain);
        name = slash + 1;
        if (strcmp(out->domain, "index.docker.io") == 0) {
            free(out->domain);
            out->domain = wc_xstrdup("docker.io");
        }
    } else {
        out->domain = wc_xstrdup("docker.io");
    }
    if (strcmp(out->domain, "docker.io") == 0 && !strchr(name, '/')) {
        size_t n = strlen(name) + 9;
        out->path = wc_xmalloc(n);
        snprintf(out->path, n, "library/%s", name);
    } else {
        out->path = wc_xstrdup(name);
    }
    if (!path_valid(out->path))
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "image reference \"%s\": invalid repository name \"%s\" (lowercase "
                          "letters, digits and separators . _ __ - between them)",
                          s, out->path);
    return 0;
}

int img_ref_parse(const char *s, img_ref *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    if (!s || !*s)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "image reference is empty");
    if (strlen(s) > 1024)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "image reference is too long");
    if (is_hex64(s))
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "image reference \"%s\" is an image ID, not a name to pull", s);
    char *work = wc_xstrdup(s);
    int rc = split_digest(work, out, s, err);
    if (rc == 0)
        rc = split_tag(work, out, s, err);
    if (rc == 0)
        rc = split_domain(work, out, s, err);
    if (rc == 0 && strlen(out->domain) + 1 + strlen(out->path) > REF_NAME_MAX)
        rc = wc_err_set(err, WC_INVALID_ARGUMENT,
                        "image reference \"%s\": name longer than %d characters", s, REF_NAME_MAX);
    if (rc == 0 && !out->tag && !out->digest)
        out->tag = wc_xstrdup("latest");
    free(work);
    if (rc < 0)
        img_ref_clear(out);
    return rc;
}

char *img_ref_repo(const img_ref *r)
{
    size_t n = strlen(r->domain) + strlen(r->path) + 2;
    char *s = wc_xmalloc(n);
    snprintf(s, n, "%s/%s", r->domain, r->path);
    return s;
}

char *img_ref_string(const img_ref *r)
{
    size_t n = strlen(r->domain) + strlen(r->path) + 4 + (r->tag ? strlen(r->tag) : 0) +
               (r->digest ? strlen(r->digest) : 0);
    char *s = wc_xmalloc(n);
    if (r->tag)
        snprintf(s, n, "%s/%s:%s", r->domain, r->path, r->tag);
    else
        snprintf(s, n, "%s/%s@%s", r->domain, r->path, r->digest);
    return s;
}

int img_host_is_loopback(const char *hostport)
{
    char host[256];
    const char *end;
    if (hostport[0] == '[') {
        end = strchr(hostport, ']');
        if (!end)
            return 0;
        snprintf(host, sizeof host, "%.*s", (int)(end - hostport - 1), hostport + 1);
    } else {
        end = strchr(hostport, ':');
        size_t n = end ? (size_t)(end - hostport) : strlen(hostport);
        snprintf(host, sizeof host, "%.*s", (int)n, hostport);
    }
    if (strcasecmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
        return 1;
    if (strncmp(host, "127.", 4) != 0)
        return 0;
    int dots = 0;
    for (const char *c = host + 4; *c; c++) {
        if (*c == '.')
            dots++;
        else if (!isdigit((unsigned char)*c))
            return 0;
    }
    return dots == 2;
}

char *img_strndup(const char *s, size_t n)
{
    size_t len = 0;
    while (len < n && s[len])
        len++;
    char *out = wc_xmalloc(len + 1);
    if (out) {
        memcpy(out, s, len);
        out[len] = '\0';
    }
    return out;
}
