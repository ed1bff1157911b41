/* GUID text <-> struct for HCN ids (no Jansson: also built into the Windows loaders). */
#include "hns/hcnguid.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int hns_guid_parse(const char *s, hns_guid *g)
{
    if (!s)
        return -1;
    size_t n = strlen(s);
    if (n == 38 && s[0] == '{' && s[37] == '}') {
        s++;
        n = 36;
    }
    if (n != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
        return -1;
    uint8_t b[16];
    size_t bi = 0;
    for (size_t i = 0; i < 36;) {
        if (s[i] == '-') {
            i++;
            continue;
        }
        int hi = hexval((unsigned char)s[i]), lo = hexval((unsigned char)s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        b[bi++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    g->data1 = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    g->data2 = (uint16_t)(b[4] << 8 | b[5]);
    g->data3 = (uint16_t)(b[6] << 8 | b[7]);
    memcpy(g->data4, b + 8, 8);
    return 0;
}

int hns_guid_from_hex_id(const char *id, hns_guid *g)
{
    uint8_t b[16];
    for (size_t i = 0; i < 16; i++) {
        int hi = id ? hexval((unsigned char)id[2 * i]) : -1;
        int lo = hi >= 0 ? hexval((unsigned char)id[2 * i + 1]) : -1;
        if (hi < 0 || lo < 0)
            return -1;
        b[i] = (uint8_t)(hi << 4 | lo);
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    g->data1 = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    g->data2 = (uint16_t)(b[4] << 8 | b[5]);
    g->data3 = (uint16_t)(b[6] << 8 | b[7]);
    memcpy(g->data4, b + 8, 8);
    return 0;
}

void hns_guid_format(const hns_guid *g, char out[37])
{
    snprintf(out, 37, "%08X-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X", (unsigned)g->data1,
             (unsigned)g->data2, (unsigned)g->data3, g->data4[0], g->data4[1], g->data4[2],
             g->data4[3], g->data4[4], g->data4[5], g->data4[6], g->data4[7]);
}
