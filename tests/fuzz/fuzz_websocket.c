/* WebSocket framing as the streaming server reads it (cri/websocket.c): frames one after
 * another from a client's byte stream, unmasked in place, and the handshake key. Input: the
 * bytes after the upgrade; the first 24 also serve as a Sec-WebSocket-Key. */
#include <stdlib.h>
#include <string.h>

#include "cri/websocket.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *key = fuzz_strndup(data, size < 24 ? size : 24);
    char accept[29];
    if (cri_ws_accept_key(key, accept) == 0 && strlen(accept) != 28)
        abort();
    free(key);

    /* A small frame limit as well as the server's, so both sides of the check run. */
    size_t max = size && data[0] & 1 ? 64 : 16u << 20;
    unsigned char *buf = malloc(size ? size : 1);
    if (size)
        memcpy(buf, data, size);
    size_t off = 0;
    while (off < size) {
        cri_ws_frame f;
        long used = cri_ws_parse(buf + off, size - off, max, &f);
        if (used <= 0)
            break;
        if ((size_t)used > size - off || f.len > max || f.payload < buf + off ||
            f.payload + f.len > buf + off + used || (f.opcode >= 8 && (f.len > 125 || !f.fin)))
            abort();
        off += (size_t)used;
    }
    /* What the server sends back parses again (once masked, as a client would send it). */
    unsigned char out[10 + 4 + 300];
    size_t plen = size % 300;
    size_t h = cri_ws_header(out, CRI_WS_BINARY, plen);
    out[1] |= 0x80;
    memset(out + h, 0x5a, 4 + plen);
    cri_ws_frame f;
    if (cri_ws_parse(out, h + 4 + plen, 16u << 20, &f) != (long)(h + 4 + plen) || f.len != plen ||
        f.opcode != CRI_WS_BINARY || !f.fin)
        abort();
    free(buf);
    return 0;
}
