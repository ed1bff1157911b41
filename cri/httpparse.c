/* HTTP/1.1 request heads for the streaming server's upgrades. */
#include "cri/httpparse.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *find_end(const char *buf, size_t n)
{
    for (size_t i = 0; i + 3 < n; i++)
        if (memcmp(buf + i, "\r\n\r\n", 4) == 0)
            return buf + i + 4;
    return NULL;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

static int valid_token(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isgraph((unsigned char)*s) || *s == ':')
            return 0;
    return 1;
}

/* "GET /path?query HTTP/1.1" */
static int parse_request_line(char *line, cri_http_req *r)
{
    char *sp1 = strchr(line, ' ');
    if (!sp1)
        return -1;
    *sp1 = '\0';
    char *target = sp1 + 1;
    char *sp2 = strchr(target, ' ');
    if (!sp2)
        return -1;
    *sp2 = '\0';
    const char *version = sp2 + 1;
    if (strncmp(version, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)version[7]) ||
        version[8] != '\0')
        return -1;
    if (!valid_token(line) || target[0] != '/')
        return -1;
    r->method = line;
    r->minor = version[7] - '0';
    char *q = strchr(target, '?');
    if (q)
        *q++ = '\0';
    r->path = target;
    r->query = q ? q : sp2; /* sp2 is now "" */
    return 0;
}

static int parse_header_line(char *line, cri_http_req *r)
{
    if (line[0] == ' ' || line[0] == '\t')
        return -1; /* obsolete line folding: refuse rather than guess */
    char *colon = strchr(line, ':');
    if (!colon || r->n_h == CRI_HTTP_HEADERS_MAX)
        return -1;
    *colon = '\0';
    if (!valid_token(line))
        return -1;
    r->h[r->n_h].name = line;
    r->h[r->n_h].value = trim(colon + 1);
    r->n_h++;
    return 0;
}

long cri_http_parse(const char *buf, size_t n, cri_http_req *out)
{
    memset(out, 0, sizeof *out);
    const char *end = find_end(buf, n < CRI_HTTP_HEAD_MAX ? n : CRI_HTTP_HEAD_MAX);
    if (!end)
        return n >= CRI_HTTP_HEAD_MAX ? -1 : 0;
    size_t len = (size_t)(end - buf);
    /* HTTP has no NUL in a head; one would also cut a line short of its CRLF below. */
    if (memchr(buf, '\0', len))
        return -1;
    out->head = wc_xmalloc(len + 1);
    memcpy(out->head, buf, len);
    out->head[len] = '\0';
    char *line = out->head;
    for (int first = 1;; first = 0) {
        char *eol = strstr(line, "\r\n");
        *eol = '\0';
        if (!*line)
            break; /* the blank line */
        if ((first ? parse_request_line(line, out) : parse_header_line(line, out)) < 0) {
            cri_http_req_free(out);
            return -1;
        }
        line = eol + 2;
    }
    if (!out->method) {
        cri_http_req_free(out);
        return -1;
    }
    return (long)len;
}

void cri_http_req_free(cri_http_req *r)
{
    free(r->head);
    memset(r, 0, sizeof *r);
}

const char *cri_http_get(const cri_http_req *r, const char *name)
{
    for (size_t i = 0; i < r->n_h; i++)
        if (strcasecmp(r->h[i].name, name) == 0)
            return r->h[i].value;
    return NULL;
}

size_t cri_http_tokens(const cri_http_req *r, const char *name, char **store, const char **tok,
                       size_t max)
{
    size_t total = 0, n = 0;
    for (size_t i = 0; i < r->n_h; i++)
        if (strcasecmp(r->h[i].name, name) == 0)
            total += strlen(r->h[i].value) + 1;
    *store = wc_xmalloc(total + 1);
    char *w = *store;
    for (size_t i = 0; i < r->n_h; i++) {
        if (strcasecmp(r->h[i].name, name) != 0)
            continue;
        strcpy(w, r->h[i].value);
        char *save = NULL;
        for (char *t = strtok_r(w, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            t = trim(t);
            if (*t && n < max)
                tok[n++] = t;
        }
        w += strlen(r->h[i].value) + 1;
    }
    return n;
}

int cri_http_has_token(const cri_http_req *r, const char *name, const char *want)
{
    char *store = NULL;
    const char *tok[32];
    size_t n = cri_http_tokens(r, name, &store, tok, 32);
    int found = 0;
    for (size_t i = 0; i < n && !found; i++)
        found = strcasecmp(tok[i], want) == 0;
    free(store);
    return found;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decoding with '+' as space, as URL query strings are written. */
static char *decode(const char *s, size_t n)
{
    char *out = wc_xmalloc(n + 1), *w = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            *w++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            *w++ = s[i] == '+' ? ' ' : s[i];
        }
    }
    *w = '\0';
    return out;
}

size_t cri_http_query(const char *query, const char *key, char **vals, size_t max)
{
    size_t n = 0, klen = strlen(key);
    for (const char *p = query; *p && n < max;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            vals[n++] = decode(p + klen + 1, len - klen - 1);
        }
        p += len + (amp ? 1 : 0);
    }
    return n;
}
