/* RFC 6455 framing for the server side: the handshake key, frames out (never masked) and
 * frames in (always masked by clients). */
#ifndef WINCRI_CRI_WEBSOCKET_H
#define WINCRI_CRI_WEBSOCKET_H

#include <stddef.h>
#include <stdint.h>

enum {
    CRI_WS_CONT = 0x0,
    CRI_WS_TEXT = 0x1,
    CRI_WS_BINARY = 0x2,
    CRI_WS_CLOSE = 0x8,
    CRI_WS_PING = 0x9,
    CRI_WS_PONG = 0xA,
};

/* Sec-WebSocket-Accept for a client's Sec-WebSocket-Key: base64(SHA-1(key + GUID)), 28
 * characters and a NUL. Returns -1 if the key is not 16 bytes in base64. */
int cri_ws_accept_key(const char *key, char out[29]);

/* Frame header for an unmasked final frame of `len` payload bytes; returns its size (2..10). */
size_t cri_ws_header(unsigned char hdr[10], int opcode, uint64_t len);

typedef struct cri_ws_frame {
    int fin, opcode;
    unsigned char *payload; /* unmasked in place, inside the caller's buffer */
    size_t len;
} cri_ws_frame;

/* Parses one frame at buf (unmasking its payload in place). Returns the bytes it took, 0 if
 * incomplete, -1 on a protocol error (unmasked, reserved bits, bad control frame, or a
 * payload above max). */
long cri_ws_parse(unsigned char *buf, size_t n, size_t max, cri_ws_frame *f);

#endif
