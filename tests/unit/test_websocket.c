/* WebSocket framing, the HTTP upgrade head, and streaming URLs (cri/websocket.c,
 * cri/httpparse.c, cri/streaming.c). */
#include "tests/unit/testutil.h"

#include <stdlib.h>
#include <string.h>

#include "cri/httpparse.h"
#include "cri/streaming.h"
#include "cri/websocket.h"

static void accept_key_matches_rfc6455_example(void **state)
{
    char out[29];
    assert_int_equal(cri_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(cri_ws_accept_key("short", out), -1);
}

static void header_lengths(void **state)
{
    unsigned char h[10];
    assert_int_equal(cri_ws_header(h, CRI_WS_BINARY, 5), 2);
    assert_int_equal(h[0], 0x82);
    assert_int_equal(h[1], 5);
    assert_int_equal(cri_ws_header(h, CRI_WS_TEXT, 300), 4);
    assert_int_equal(h[1], 126);
    assert_int_equal(h[2] << 8 | h[3], 300);
    assert_int_equal(cri_ws_header(h, CRI_WS_BINARY, 70000), 10);
    assert_int_equal(h[1], 127);
    assert_int_equal(h[7] << 16 | h[8] << 8 | h[9], 70000);
}

/* A client frame: masked, as RFC 6455 requires. */
static size_t client_frame(unsigned char *buf, int fin, int op, const char *payload, size_t n)
{
    static const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t pos = 0;
    buf[pos++] = (unsigned char)((fin ? 0x80 : 0) | op);
    if (n < 126) {
        buf[pos++] = (unsigned char)(0x80 | n);
    } else {
        buf[pos++] = 0x80 | 126;
        buf[pos++] = (unsigned char)(n >> 8);
        buf[pos++] = (unsigned char)n;
    }
    memcpy(buf + pos, mask, 4);
    pos += 4;
    for (size_t i = 0; i < n; i++)
        buf[pos + i] = (unsigned char)(payload[i] ^ mask[i & 3]);
    return pos + n;
}

static void parse_masked_frames(void **state)
{
    unsigned char buf[600];
    cri_ws_frame f;
    size_t n = client_frame(buf, 1, CRI_WS_TEXT, "Hello", 5);
    assert_int_equal(cri_ws_parse(buf, n - 1, 1 << 20, &f), 0); /* incomplete */
    assert_int_equal(cri_ws_parse(buf, n, 1 << 20, &f), (long)n);
    assert_true(f.fin);
    assert_int_equal(f.opcode, CRI_WS_TEXT);
    assert_memory_equal(f.payload, "Hello", 5);
    char big[300];
    memset(big, 'x', sizeof big);
    n = client_frame(buf, 0, CRI_WS_BINARY, big, sizeof big);
    assert_int_equal(cri_ws_parse(buf, n, 1 << 20, &f), (long)n);
    assert_false(f.fin);
    assert_int_equal(f.len, 300);
    assert_int_equal(cri_ws_parse(buf, n, 100, &f), -1); /* above the caller's limit */
}

static void reject_bad_frames(void **state)
{
    unsigned char unmasked[] = {0x82, 0x01, 0x00};
    cri_ws_frame f;
    assert_int_equal(cri_ws_parse(unmasked, sizeof unmasked, 1 << 20, &f), -1);
    unsigned char buf[300];
    char long_ping[126] = {0};
    size_t n = client_frame(buf, 1, CRI_WS_PING, long_ping, sizeof long_ping);
    assert_int_equal(cri_ws_parse(buf, n, 1 << 20, &f), -1);
    n = client_frame(buf, 0, CRI_WS_CLOSE, "", 0); /* fragmented control frame */
    assert_int_equal(cri_ws_parse(buf, n, 1 << 20, &f), -1);
    n = client_frame(buf, 1, 0x3, "", 0); /* reserved opcode */
    assert_int_equal(cri_ws_parse(buf, n, 1 << 20, &f), -1);
    buf[0] |= 0x40; /* RSV1 without an extension */
    assert_int_equal(cri_ws_parse(buf, n, 1 << 20, &f), -1);
}

static void http_upgrade_head(void **state)
{
    const char *req = "GET /exec/abc?port=80&port=8%30 HTTP/1.1\r\nHost: x\r\n"
                      "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"
                      "Sec-WebSocket-Protocol: v5.channel.k8s.io , v4.channel.k8s.io\r\n"
                      "Sec-WebSocket-Protocol: channel.k8s.io\r\n\r\nEXTRA";
    cri_http_req r;
    assert_int_equal(cri_http_parse(req, 20, &r), 0);
    long n = cri_http_parse(req, strlen(req), &r);
    assert_int_equal(n, (long)strlen(req) - 5);
    assert_string_equal(r.method, "GET");
    assert_string_equal(r.path, "/exec/abc");
    assert_string_equal(cri_http_get(&r, "upgrade"), "websocket");
    assert_true(cri_http_has_token(&r, "Connection", "upgrade"));
    char *store;
    const char *tok[8];
    assert_int_equal(cri_http_tokens(&r, "sec-websocket-protocol", &store, tok, 8), 3);
    assert_string_equal(tok[0], "v5.channel.k8s.io");
    assert_string_equal(tok[1], "v4.channel.k8s.io");
    assert_string_equal(tok[2], "channel.k8s.io");
    free(store);
    char *vals[4];
    assert_int_equal(cri_http_query(r.query, "port", vals, 4), 2);
    assert_string_equal(vals[0], "80");
    assert_string_equal(vals[1], "80");
    free(vals[0]);
    free(vals[1]);
    cri_http_req_free(&r);
    assert_int_equal(cri_http_parse("GET nopath HTTP/1.1\r\n\r\n", 23, &r), -1);
    assert_int_equal(cri_http_parse("GET / HTTP/2\r\n\r\n", 16, &r), -1);
    assert_int_equal(cri_http_parse("GET / HTTP/1.1\r\n folded\r\n\r\n", 27, &r), -1);
    /* Found by fuzzing: a NUL inside the head hid the line's CRLF from the line splitter. */
    assert_int_equal(cri_http_parse("GET / HTTP/1.1\0\r\n\r\n", 19, &r), -1);
    assert_int_equal(cri_http_parse("GET / HTTP/1.1\r\nA: \0b\r\n\r\n", 26, &r), -1);
}

static int no_exec(void *ctx, const char *id, const char *const *cmd, size_t n, int tty, int i,
                   int o, int e, cri_stream_io *io, cri_stream_proc **p, wc_err *err)
{
    return wc_err_set(err, WC_INTERNAL, "unused");
}

static void urls_and_flag_checks(void **state)
{
    cri_stream_backend be = {.exec = no_exec};
    cri_streaming_opts o = {0};
    cri_streaming *s = NULL;
    wc_err err = {0};
    assert_int_equal(cri_streaming_start_opts(&o, &be, &s, &err), 0);
    const char *cmd[] = {"ls"};
    cri_stream_request r = {.kind = CRI_STREAM_EXEC, .id = "c1", .cmd = cmd, .n_cmd = 1};
    char *url = NULL;
    assert_int_equal(cri_streaming_url(s, &r, &url, &err), -1);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "stdin"));
    r.want_stdout = r.want_stderr = r.tty = 1;
    assert_int_equal(cri_streaming_url(s, &r, &url, &err), -1);
    assert_non_null(strstr(err.msg, "tty and stderr"));
    r.want_stderr = 0;
    assert_int_equal(cri_streaming_url(s, &r, &url, &err), 0);
    const char *base = cri_streaming_base_url(s);
    assert_int_equal(strncmp(url, base, strlen(base)), 0);
    assert_int_equal(strncmp(url + strlen(base), "/exec/", 6), 0);
    char *url2 = NULL;
    assert_int_equal(cri_streaming_url(s, &r, &url2, &err), 0);
    assert_string_not_equal(url, url2); /* tokens are random */
    int bad = 70000;
    cri_stream_request pf = {
        .kind = CRI_STREAM_PORTFORWARD, .id = "p", .ports = &bad, .n_ports = 1};
    char *none = NULL;
    assert_int_equal(cri_streaming_url(s, &pf, &none, &err), -1);
    assert_null(none);
    free(url);
    free(url2);
    cri_streaming_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accept_key_matches_rfc6455_example),
        cmocka_unit_test(header_lengths),
        cmocka_unit_test(parse_masked_frames),
        cmocka_unit_test(reject_bad_frames),
        cmocka_unit_test(http_upgrade_head),
        cmocka_unit_test(urls_and_flag_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
