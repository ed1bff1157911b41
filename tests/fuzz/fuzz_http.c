/* The streaming server's HTTP/1.1 request-head parser (cri/httpparse.c) with the look-ups
 * the session makes on it: headers, comma-separated tokens and query parameters. Input:
 * the bytes a client sends first. */
#include <stdlib.h>
#include <string.h>

#include "cri/httpparse.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}

static void lookups(const cri_http_req *r)
{
    static const char *const names[] = {"Connection", "Upgrade", "Sec-WebSocket-Protocol",
                                        "X-Stream-Protocol-Version", "Sec-WebSocket-Key"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = cri_http_get(r, names[i]);
        if (v && strlen(v) > CRI_HTTP_HEAD_MAX)
            abort();
        char *store = NULL;
        const char *tok[32];
        size_t n = cri_http_tokens(r, names[i], &store, tok, 32);
        for (size_t k = 0; k < n; k++)
            if (!*tok[k] || tok[k][0] == ' ' || tok[k][strlen(tok[k]) - 1] == ' ')
                abort(); /* tokens come back trimmed and non-empty */
        free(store);
        cri_http_has_token(r, names[i], "upgrade");
    }
    char *vals[16];
    size_t nv = cri_http_query(r->query, "port", vals, 16);
    for (size_t i = 0; i < nv; i++)
        free(vals[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cri_http_req r;
    long used = cri_http_parse((const char *)data, size, &r);
    if (used <= 0)
        return 0;
    if ((size_t)used > size)
        abort();
    if (!r.method || !r.path || !r.query || r.path[0] != '/' || r.n_h > CRI_HTTP_HEADERS_MAX)
        abort();
    lookups(&r);
    cri_http_req_free(&r);
    /* The session parses again as bytes arrive: any prefix without the blank line is
     * "incomplete", never a different request. */
    size_t cut = (size_t)data[0] % (size_t)used;
    if (cri_http_parse((const char *)data, cut, &r) != 0)
        abort();
    return 0;
}
