#include "cri/streaming_tls.h"

#include <openssl/err.h>

int cri_tls_server_ctx(const char *cert, const char *key, SSL_CTX **out, wc_err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return wc_err_set(err, WC_INTERNAL, "cannot create a TLS context");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        char why[256];
        ERR_error_string_n(ERR_get_error(), why, sizeof why);
        SSL_CTX_free(ctx);
        return wc_err_set(err, WC_INVALID_ARGUMENT, "TLS certificate %s or key %s unusable: %s",
                          cert, key, why);
    }
    *out = ctx;
    return 0;
}
