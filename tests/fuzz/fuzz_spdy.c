/* SPDY/3.1 framing and header blocks as the streaming server reads them (cri/spdy.c): frames
 * one after another from a client's byte stream, the header blocks of SYN_STREAM and
 * HEADERS frames inflated through one zlib context for the connection. A second pass
 * writes the decoded headers back with the server's own writer and reads them again. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cri/spdy.h"
#include "cri/streaming_impl.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}

/* Writes hs as a SYN_STREAM with `out`, reads it back with `in`: the same pairs come back
 * (names lower-cased, as SPDY/3 wants them). */
static void round_trip(cri_spdy_zlib *out, cri_spdy_zlib *in, const cri_spdy_headers *hs)
{
    const char **names = calloc(hs->n + 1, sizeof *names);
    const char **values = calloc(hs->n + 1, sizeof *values);
    size_t n = 0;
    for (size_t i = 0; i < hs->n; i++) {
        /* The writer takes C strings: NUL-separated multi-values are not written back. */
        if (strlen(hs->h[i].value) != hs->h[i].value_len)
            continue;
        names[n] = hs->h[i].name;
        values[n++] = hs->h[i].value;
    }
    cri_buf b = {0};
    if (cri_spdy_syn_stream(&b, out, 1, 0, names, values, n) == 0) {
        cri_spdy_frame f;
        long used = cri_spdy_parse(cri_buf_data(&b), b.len, &f);
        cri_spdy_headers back;
        if (used != (long)b.len || !f.control || f.type != CRI_SPDY_SYN_STREAM || f.len < 10 ||
            cri_spdy_headers_decode(in, f.data + 10, f.len - 10, &back) < 0 || back.n != n)
            abort();
        for (size_t i = 0; i < n; i++)
            if (strcasecmp(back.h[i].name, names[i]) != 0 ||
                strcmp(back.h[i].value, values[i]) != 0)
                abort();
        cri_spdy_headers_free(&back);
    }
    cri_buf_free(&b);
    free(names);
    free(values);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cri_spdy_zlib *z = cri_spdy_zlib_new(), *w = cri_spdy_zlib_new(), *r = cri_spdy_zlib_new();
    if (!z || !w || !r)
        abort();
    size_t off = 0;
    while (off < size) {
        cri_spdy_frame f;
        long used = cri_spdy_parse(data + off, size - off, &f);
        if (used <= 0)
            break;
        if ((size_t)used > size - off || f.len != (size_t)used - 8)
            abort();
        off += (size_t)used;
        size_t skip = f.type == CRI_SPDY_SYN_STREAM ? 10 : f.type == CRI_SPDY_HEADERS ? 4 : 0;
        if (!f.control || !skip || f.len < skip)
            continue;
        cri_spdy_headers hs;
        if (cri_spdy_headers_decode(z, f.data + skip, f.len - skip, &hs) < 0)
            break; /* the connection's header context is lost: the server goes away too */
        cri_spdy_get(&hs, "streamtype");
        round_trip(w, r, &hs);
        cri_spdy_headers_free(&hs);
    }
    cri_spdy_zlib_free(z);
    cri_spdy_zlib_free(w);
    cri_spdy_zlib_free(r);
    return 0;
}
