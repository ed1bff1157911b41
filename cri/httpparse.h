/* The small part of HTTP/1.1 the streaming server needs: one request head, parsed in place,
 * and header lookups by name (case-insensitive) and comma-separated token lists. */
#ifndef WINCRI_CRI_HTTPPARSE_H
#define WINCRI_CRI_HTTPPARSE_H

#include <stddef.h>

#define CRI_HTTP_HEAD_MAX 16384
#define CRI_HTTP_HEADERS_MAX 64

typedef struct cri_http_header {
    char *name, *value;
} cri_http_header;

typedef struct cri_http_req {
    char *head;                  /* owned copy of the head; the pointers below point into it */
    char *method, *path, *query; /* query "" when none */
    int minor;                   /* HTTP/1.<minor> */
    cri_http_header h[CRI_HTTP_HEADERS_MAX];
    size_t n_h;
} cri_http_req;

/* Parses a request head from buf. Returns the bytes it took (through the blank line), 0 if
 * the head is not complete yet, -1 if it is malformed or larger than CRI_HTTP_HEAD_MAX. */
long cri_http_parse(const char *buf, size_t n, cri_http_req *out);
void cri_http_req_free(cri_http_req *r);

/* First value of a header, NULL when absent. */
const char *cri_http_get(const cri_http_req *r, const char *name);
/* Splits every instance of a header at commas into trimmed tokens, in order. Returns how
 * many were stored (at most max); they point into *store (caller frees). */
size_t cri_http_tokens(const cri_http_req *r, const char *name, char **store, const char **tok,
                       size_t max);
/* True if a token of the header equals want (case-insensitive). */
int cri_http_has_token(const cri_http_req *r, const char *name, const char *want);
/* Values of key=value pairs in a query string, decoded; stores up to max copies (caller
 * frees each). */
size_t cri_http_query(const char *query, const char *key, char **vals, size_t max);

#endif
