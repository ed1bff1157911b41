/* HCN identifies networks, endpoints and namespaces by GUID. */
#ifndef WINCRI_HNS_HCNGUID_H
#define WINCRI_HNS_HCNGUID_H

#include <stdint.h>

typedef struct hns_guid {
    uint32_t data1;
    uint16_t data2, data3;
    uint8_t data4[8];
} hns_guid;

/* Accepts "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", with or without braces, any case. */
int hns_guid_parse(const char *s, hns_guid *g);
/* A GUID named by a wincri id (hex, at least 32 digits): its first 128 bits with the RFC 4122
 * version 4 and variant bits set, so the same pod always names the same HCN object. */
int hns_guid_from_hex_id(const char *id, hns_guid *g);
/* Uppercase, no braces (the spelling HNS itself returns). out holds 37 bytes. */
void hns_guid_format(const hns_guid *g, char out[37]);

#endif
