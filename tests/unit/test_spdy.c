/* SPDY/3.1 frames and zlib header blocks (cri/spdy.c): what a peer compresses with the
 * SPDY/3 dictionary decodes here, block after block on one context. */
#include "tests/unit/testutil.h"

#include <stdlib.h>
#include <string.h>

#include "cri/spdy.h"
#include "cri/streaming_impl.h"

static void header_blocks_round_trip(void **state)
{
    cri_spdy_zlib *client = cri_spdy_zlib_new(), *server = cri_spdy_zlib_new();
    assert_non_null(client);
    assert_non_null(server);
    const char *names[] = {"streamType", "port", "requestID"};
    const char *values[] = {"data", "8080", "0"};
    for (uint32_t id = 1; id <= 5; id += 2) { /* one compression context across frames */
        cri_buf b = {0};
        assert_int_equal(cri_spdy_syn_stream(&b, client, id, 0, names, values, 3), 0);
        cri_spdy_frame f;
        assert_int_equal(cri_spdy_parse(cri_buf_data(&b), b.len, &f), (long)b.len);
        assert_true(f.control);
        assert_int_equal(f.type, CRI_SPDY_SYN_STREAM);
        assert_int_equal(f.stream_id, id);
        cri_spdy_headers hs;
        assert_int_equal(cri_spdy_headers_decode(server, f.data + 10, f.len - 10, &hs), 0);
        assert_int_equal(hs.n, 3);
        assert_string_equal(hs.h[0].name, "streamtype"); /* SPDY/3 names are lower case */
        assert_string_equal(cri_spdy_get(&hs, "STREAMTYPE"), "data");
        assert_string_equal(cri_spdy_get(&hs, "port"), "8080");
        assert_null(cri_spdy_get(&hs, "missing"));
        cri_spdy_headers_free(&hs);
        cri_buf_free(&b);
    }
    cri_spdy_zlib_free(client);
    cri_spdy_zlib_free(server);
}

/* The first block names the dictionary by its Adler-32, as peers check. */
static void dictionary_id(void **state)
{
    cri_spdy_zlib *z = cri_spdy_zlib_new();
    assert_non_null(z);
    cri_buf b = {0};
    assert_int_equal(cri_spdy_syn_reply(&b, z, 1, 0, NULL, NULL, 0), 0);
    const unsigned char *blk = cri_buf_data(&b) + 12;
    assert_true(blk[1] & 0x20); /* FDICT */
    assert_int_equal(cri_be32(blk + 2), 0xe3c6a7c2u);
    cri_buf_free(&b);
    cri_spdy_zlib_free(z);
}

static void data_and_control_frames(void **state)
{
    cri_buf b = {0};
    cri_spdy_data(&b, 7, CRI_SPDY_FLAG_FIN, "abc", 3);
    cri_spdy_frame f;
    assert_int_equal(cri_spdy_parse(cri_buf_data(&b), 10, &f), 0);
    assert_int_equal(cri_spdy_parse(cri_buf_data(&b), b.len, &f), 11);
    assert_false(f.control);
    assert_int_equal(f.stream_id, 7);
    assert_int_equal(f.flags, CRI_SPDY_FLAG_FIN);
    assert_memory_equal(f.data, "abc", 3);
    cri_buf_free(&b);
    cri_spdy_window_update(&b, 3, 4096);
    assert_int_equal(cri_spdy_parse(cri_buf_data(&b), b.len, &f), 16);
    assert_int_equal(f.type, CRI_SPDY_WINDOW_UPDATE);
    assert_int_equal(f.stream_id, 3);
    assert_int_equal(cri_be32(f.data + 4), 4096);
    cri_buf_free(&b);
    cri_spdy_ping(&b, 9);
    assert_int_equal(cri_spdy_parse(cri_buf_data(&b), b.len, &f), 12);
    assert_int_equal(f.type, CRI_SPDY_PING);
    assert_int_equal(cri_be32(f.data), 9);
    cri_buf_free(&b);
    unsigned char v2[8] = {0x80, 0x02, 0x00, 0x06, 0, 0, 0, 0};
    assert_int_equal(cri_spdy_parse(v2, 8, &f), -1); /* SPDY/2 is not spoken */
}

static void corrupt_block_is_an_error(void **state)
{
    cri_spdy_zlib *z = cri_spdy_zlib_new();
    assert_non_null(z);
    unsigned char junk[] = {0x12, 0x34, 0x56, 0x78, 0x9a};
    cri_spdy_headers hs;
    assert_int_equal(cri_spdy_headers_decode(z, junk, sizeof junk, &hs), -1);
    cri_spdy_zlib_free(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_blocks_round_trip),
        cmocka_unit_test(dictionary_id),
        cmocka_unit_test(data_and_control_frames),
        cmocka_unit_test(corrupt_block_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
