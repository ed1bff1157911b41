/* Pod networks (hns/hns.h), faked: namespaces and CNI attachments are entries in the shared
 * state. A namespace is "/run/netns/fake-<pod id>"; ADD gives 10.88.0.<n>. */
#include <stdlib.h>
#include <string.h>

#include "hns/hns.h"
#include "tests/unit/fake_int.h"

struct hns_network {
    int unused;
};

/* Called with fk locked. */
static fake_ns *ns_find(const char *name)
{
    for (size_t i = 0; name && i < FAKE_N; i++)
        if (fk->netns[i].used && strcmp(fk->netns[i].name, name) == 0)
            return &fk->netns[i];
    return NULL;
}

/* Called with fk locked. */
static fake_att *att_find(const char *netns)
{
    for (size_t i = 0; netns && i < FAKE_N; i++)
        if (fk->atts[i].used && strcmp(fk->atts[i].netns, netns) == 0)
            return &fk->atts[i];
    return NULL;
}

int fake_netns_exists(const char *netns)
{
    fake_lock();
    int yes = ns_find(netns) != NULL;
    fake_unlock();
    return yes;
}

int fake_netns_attached(const char *netns)
{
    fake_lock();
    int yes = att_find(netns) != NULL;
    fake_unlock();
    return yes;
}

size_t fake_netns_count(void)
{
    size_t n = 0;
    fake_lock();
    for (size_t i = 0; i < FAKE_N; i++)
        n += fk->netns[i].used;
    fake_unlock();
    return n;
}

size_t fake_attached_count(void)
{
    size_t n = 0;
    fake_lock();
    for (size_t i = 0; i < FAKE_N; i++)
        n += fk->atts[i].used;
    fake_unlock();
    return n;
}

int hns_network_open(const wc_config *cfg, hns_network **out, wc_err *err)
{
    (void)cfg;
    *out = NULL;
    if (fake_enter("hns_network_open", NULL, 0, err) < 0)
        return -1;
    *out = calloc(1, sizeof **out);
    return 0;
}

void hns_network_close(hns_network *net)
{
    free(net);
}

static char *netns_name(const char *pod_id)
{
    if (!pod_id || !*pod_id)
        return NULL;
    size_t len = strlen(pod_id) + 32;
    char *name = malloc(len);
    snprintf(name, len, "/run/netns/fake-%s", pod_id);
    return name;
}

char *hns_netns_name(hns_network *net, const char *pod_id)
{
    (void)net;
    if (fake_enter("hns_netns_name", pod_id, 0, NULL) < 0)
        return NULL;
    return netns_name(pod_id);
}

int hns_netns_create(hns_network *net, const char *pod_id, char **netns, wc_err *err)
{
    *netns = NULL;
    if (fake_enter("hns_netns_create", pod_id, 0, err) < 0)
        return -1;
    (void)net;
    char *name = netns_name(pod_id);
    if (!name)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "no namespace name for \"%s\"", pod_id);
    int rc = 0;
    fake_lock();
    if (ns_find(name)) {
        rc = wc_err_set(err, WC_ALREADY_EXISTS, "network namespace %s exists", name);
    } else {
        rc = wc_err_set(err, WC_RESOURCE_EXHAUSTED, "no room for namespace %s", name);
        for (size_t i = 0; i < FAKE_N; i++) {
            if (!fk->netns[i].used) {
                fk->netns[i].used = 1;
                fake_copy(fk->netns[i].name, name);
                wc_err_clear(err);
                rc = 0;
                break;
            }
        }
    }
    fake_unlock();
    if (rc < 0)
        free(name);
    else
        *netns = name;
    return rc;
}

int hns_netns_remove(hns_network *net, const char *netns, wc_err *err)
{
    (void)net;
    if (fake_enter("hns_netns_remove", netns, 0, err) < 0)
        return -1;
    fake_lock();
    fake_ns *n = ns_find(netns);
    if (n)
        n->used = 0;
    fake_unlock();
    return 0;
}

int hns_attach(hns_network *net, const char *netns, const hns_pod_net *pod, hns_attach_result *out,
               wc_err *err)
{
    (void)net;
    memset(out, 0, sizeof *out);
    if (fake_enter("hns_attach", netns, 0, err) < 0)
        return -1;
    int rc = 0, ip = 0;
    fake_lock();
    if (!ns_find(netns))
        rc = wc_err_set(err, WC_NOT_FOUND, "CNI ADD: network namespace %s does not exist", netns);
    else if (att_find(netns))
        rc = wc_err_set(err, WC_ALREADY_EXISTS, "CNI ADD: %s is attached already", netns);
    else {
        rc = wc_err_set(err, WC_RESOURCE_EXHAUSTED, "CNI ADD: no addresses left");
        for (size_t i = 0; i < FAKE_N; i++) {
            if (!fk->atts[i].used) {
                fk->atts[i].used = 1;
                fake_copy(fk->atts[i].netns, netns);
                fake_copy(fk->atts[i].pod, pod->pod_id);
                ip = fk->next_ip++;
                wc_err_clear(err);
                rc = 0;
                break;
            }
        }
    }
    fake_unlock();
    if (rc < 0)
        return -1;
    out->ips = calloc(2, sizeof *out->ips);
    out->ips[0] = malloc(32);
    snprintf(out->ips[0], 32, "10.88.0.%d", ip);
    out->n_ips = 1;
    out->cni_result = malloc(96);
    snprintf(out->cni_result, 96, "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"%s/16\"}]}",
             out->ips[0]);
    return 0;
}

int hns_detach(hns_network *net, const char *netns, const hns_pod_net *pod, const char *cni_result,
               wc_err *err)
{
    (void)net;
    (void)pod;
    (void)cni_result;
    if (fake_enter("hns_detach", netns, 0, err) < 0)
        return -1;
    fake_lock();
    fake_att *a = att_find(netns);
    if (a)
        a->used = 0;
    fake_unlock();
    return 0;
}

int hns_check(hns_network *net, const char *netns, const hns_pod_net *pod, const char *cni_result,
              wc_err *err)
{
    (void)net;
    (void)pod;
    (void)cni_result;
    if (fake_enter("hns_check", netns, 0, err) < 0)
        return -1;
    return fake_netns_attached(netns) ? 0
                                      : wc_err_set(err, WC_NOT_FOUND, "%s is not attached", netns);
}

void hns_attach_result_clear(hns_attach_result *r)
{
    for (size_t i = 0; i < r->n_ips; i++)
        free(r->ips[i]);
    free(r->ips);
    free(r->cni_result);
    memset(r, 0, sizeof *r);
}

int hns_netns_stats(hns_network *net, const char *netns, uint64_t *rx_bytes, uint64_t *tx_bytes,
                    wc_err *err)
{
    (void)net;
    *rx_bytes = *tx_bytes = 0;
    if (fake_enter("hns_netns_stats", netns, 0, err) < 0)
        return -1;
    *rx_bytes = 100;
    *tx_bytes = 200;
    return 0;
}

int hns_netns_connect(hns_network *net, const char *netns, int port, int *fd, wc_err *err)
{
    (void)net;
    *fd = -1;
    if (fake_enter("hns_netns_connect", netns, port, err) < 0)
        return -1;
    return wc_err_set(err, WC_UNIMPLEMENTED, "the fake network forwards no ports");
}
