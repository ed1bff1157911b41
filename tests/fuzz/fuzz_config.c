/* wincrid's config file (common/config.c): the text an operator writes, checked against
 * the defaults and merged, then read the way the daemon's modules read their sections at
 * start: runtime handlers, fault injection, the built-in NAT network (hns/nat.c) and the
 * per-registry settings a pull session is built from (image/registry.c; sessions only for
 * loopback registries, and no request is ever made). Input: the file. */
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "hns/nat.h"
#include "image/img_internal.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}

static void nat(const wc_config *cfg)
{
    hns_nat_config nc;
    wc_err err = {0};
    if (hns_nat_config_read(cfg, &nc, &err) < 0 || !nc.enabled)
        return;
    json_t *doc = hns_nat_network_doc(&nc, &err);
    json_decref(doc);
    char ip[16];
    uint8_t prefix = 0;
    const char *used[1] = {nc.gateway};
    hns_nat_next_ip(nc.subnet, nc.gateway, used, 1, ip, &prefix, &err);
}

static void registries(const wc_config *cfg)
{
    img_registry *reg = NULL;
    wc_err err = {0};
    if (img_registry_new(json_object_get(cfg->doc, "registries"), 0, &reg, &err) < 0)
        abort();
    static const char *const refs[] = {"127.0.0.1:5000/fuzz/image:latest",
                                       "localhost:5000/library/busybox@sha256:"
                                       "0000000000000000000000000000000000000000000000000000"
                                       "000000000000",
                                       "[::1]:5000/a/b:c"};
    img_cancel cancel = {0};
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        img_ref ref;
        if (img_ref_parse(refs[i], &ref, &err) < 0 || !img_host_is_loopback(ref.domain))
            abort();
        img_session *s = NULL;
        if (img_session_new(reg, &ref, NULL, &cancel, &s, &err) == 0) {
            img_session_endpoint(s);
            img_session_free(s);
        }
        img_ref_clear(&ref);
    }
    img_registry_free(reg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strndup(data, size);
    wc_config *cfg = NULL;
    wc_err err = {0};
    if (wc_config_parse(text, "fuzz.json", &cfg, &err) == 0) {
        if (!cfg->root_dir || !cfg->state_dir || !wc_config_handler(cfg, cfg->default_handler))
            abort();
        for (size_t i = 0; i < cfg->n_handlers; i++)
            if (wc_config_handler(cfg, cfg->handlers[i].name) == NULL)
                abort();
        wc_config_rpc_delay_ms(cfg, "/runtime.v1.RuntimeService/Status");
        nat(cfg);
        registries(cfg);
        wc_config_free(cfg);
    } else if (err.code != WC_INVALID_ARGUMENT) {
        abort(); /* every refusal is the operator's to fix */
    }
    free(text);
    return 0;
}
