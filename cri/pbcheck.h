/* Checks the strings of a request on the wire, before it is decoded: protobuf-c hands strings
 * over as C strings, so a NUL would silently cut one, and it does not check UTF-8, which
 * proto3 strings must be (a strict client could not parse them back from a list). */
#ifndef WINCRI_CRI_PBCHECK_H
#define WINCRI_CRI_PBCHECK_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* 0 when every string field (nested messages and map entries included) is valid UTF-8
 * without NUL; else INVALID_ARGUMENT naming the field ("config.metadata.name") and why.
 * Bytes that do not parse as protobuf at all are left to the decoder (returns 0). */
int cri_check_strings(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                      wc_err *err);

/* 1 when s[0..len) is well-formed UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF). */
int cri_utf8_valid(const uint8_t *s, size_t len);

#endif
