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
/* Uppercase, no braces (the spelling HNS itself returns). out holds 37 bytes. */
void hns_guid_format(const hns_guid *g, char out[37]);

#endif
