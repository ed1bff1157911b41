/* The streaming server's TLS context, shared by the platform socket layers. */
#ifndef WINCRI_CRI_STREAMING_TLS_H
#define WINCRI_CRI_STREAMING_TLS_H

#include <openssl/ssl.h>

#include "common/err.h"

/* A TLS 1.2+ server context from a PEM certificate chain and key; the error names the files
 * and OpenSSL's reason. */
int cri_tls_server_ctx(const char *cert, const char *key, SSL_CTX **out, wc_err *err);

#endif
