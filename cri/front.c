#include "cri/front_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static int parse_tcp(const char *rest, cri_endpoint *out, wc_err *err, const char *uri)
{
    const char *colon = strrchr(rest, ':');
    if (!colon || colon == rest)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "endpoint %s: expected tcp://HOST:PORT", uri);
    size_t host_len = (size_t)(colon - rest);
    if (host_len >= sizeof out->address)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "endpoint %s: host too long", uri);
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || end == colon + 1)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "endpoint %s: port must be 0-65535", uri);
    memcpy(out->address, rest, host_len);
    out->address[host_len] = '\0';
    out->port = (int)port;
    out->kind = CRI_EP_TCP;
    return 0;
}

/* npipe:////./pipe/name and npipe://./pipe/name both mean \\.\pipe\name. */
static int parse_npipe(const char *rest, cri_endpoint *out, wc_err *err, const char *uri)
{
    while (*rest == '/')
        rest++;
    if (strncmp(rest, "./pipe/", 7) != 0 || !rest[7])
        return wc_err_set(err, WC_INVALID_ARGUMENT, "endpoint %s: expected npipe:////./pipe/NAME",
                          uri);
    snprintf(out->address, sizeof out->address, "\\\\.\\pipe\\%s", rest + 7);
    for (char *p = out->address; *p; p++)
        if (*p == '/')
            *p = '\\';
    out->kind = CRI_EP_NPIPE;
    return 0;
}

int cri_endpoint_parse(const char *uri, cri_endpoint *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    if (strncmp(uri, "unix://", 7) == 0) {
        const char *path = uri + 7;
        if (path[0] != '/' || strlen(path) >= 108)
            return wc_err_set(err, WC_INVALID_ARGUMENT,
                              "endpoint %s: expected unix:///ABSOLUTE/PATH (at most 107 bytes)",
                              uri);
        snprintf(out->address, sizeof out->address, "%s", path);
        out->kind = CRI_EP_UNIX;
        return 0;
    }
    if (strncmp(uri, "tcp://", 6) == 0)
        return parse_tcp(uri + 6, out, err, uri);
    if (strncmp(uri, "npipe://", 8) == 0)
        return parse_npipe(uri + 8, out, err, uri);
    return wc_err_set(err, WC_INVALID_ARGUMENT,
                      "endpoint %s: scheme must be unix://, tcp:// or npipe://", uri);
}

int cri_front_new(const char *listen_uri, cri_front **out, wc_err *err)
{
    cri_endpoint ep;
    if (cri_endpoint_parse(listen_uri, &ep, err) < 0)
        return -1;
    cri_front *f = calloc(1, sizeof *f);
    f->ep = ep;
    pthread_mutex_init(&f->ports_mu, NULL);
    *out = f;
    return 0;
}

int cri_front_start(cri_front *f, int internal_port, wc_err *err)
{
    f->internal_port = internal_port;
    if (f->ep.kind == CRI_EP_TCP)
        wc_warn("cri",
                "listening on TCP: any local user who can reach the port may call the "
                "runtime; TCP has no access control",
                "address=%s port=%d", f->ep.address, f->ep.port);
    return cri_front_platform_start(f, err);
}

void cri_front_port_add(cri_front *f, int port)
{
    pthread_mutex_lock(&f->ports_mu);
    f->ports[port / 8] |= (uint8_t)(1u << (port % 8));
    pthread_mutex_unlock(&f->ports_mu);
}

void cri_front_port_remove(cri_front *f, int port)
{
    pthread_mutex_lock(&f->ports_mu);
    f->ports[port / 8] &= (uint8_t) ~(1u << (port % 8));
    pthread_mutex_unlock(&f->ports_mu);
}

void cri_front_handover(cri_front *f, int (*fn)(void *ctx, int fd), void *ctx)
{
    f->handover = fn;
    f->handover_ctx = ctx;
}

/* Only cri_server_adopt_connection makes "fd:" channels, and only the front calls it. */
static int handed_over(cri_front *f, const char *peer)
{
    pthread_mutex_lock(&f->ports_mu);
    int any = f->handed_over > 0;
    pthread_mutex_unlock(&f->ports_mu);
    return any && strncmp(peer, "fd:", 3) == 0;
}

int cri_front_peer_allowed(void *front, const char *peer)
{
    cri_front *f = front;
    static const char prefix[] = "ipv4:127.0.0.1:";
    if (peer && handed_over(f, peer))
        return 1;
    if (!peer || strncmp(peer, prefix, sizeof prefix - 1) != 0)
        return 0;
    char *end;
    long port = strtol(peer + sizeof prefix - 1, &end, 10);
    if (*end || port <= 0 || port > 65535)
        return 0;
    pthread_mutex_lock(&f->ports_mu);
    int ours = (f->ports[port / 8] >> (port % 8)) & 1;
    pthread_mutex_unlock(&f->ports_mu);
    return ours;
}

void cri_front_stop_accepting(cri_front *f)
{
    cri_front_platform_stop_accepting(f);
}

void cri_front_free(cri_front *f)
{
    if (!f)
        return;
    cri_front_platform_free(f);
    pthread_mutex_destroy(&f->ports_mu);
    free(f);
}
