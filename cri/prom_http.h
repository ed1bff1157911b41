/* The Prometheus endpoint's HTTP server: plain HTTP/1.1, GET (or HEAD) /metrics answered with
 * wc_metrics_render(), one connection at a time on a thread of its own, each closed after its
 * answer. A client gets a few seconds to send its request head; nothing it sends can hold the
 * listener longer. The socket calls are the platform's (prom_http_linux.c, prom_http_win32.c). */
#ifndef WINCRI_CRI_PROM_HTTP_H
#define WINCRI_CRI_PROM_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct cri_prom_http cri_prom_http;

/* host: an IP literal; port 0 for an ephemeral one, *bound_port says which. */
int cri_prom_http_start(const char *host, int port, cri_prom_http **out, int *bound_port,
                        wc_err *err);
/* Closes the listener and joins its thread (within one poll interval). */
void cri_prom_http_stop(cri_prom_http *h);

/* ---- platform part ---- */

typedef intptr_t cri_prom_sock; /* a descriptor or a SOCKET; -1 for none */

/* Listens on host:port (nothing inherited by child processes). */
int cri_prom_listen(const char *host, int port, cri_prom_sock *out, int *bound_port, wc_err *err);
/* Waits up to ms for a connection: 1 with *conn set, 0 none yet, -1 the listener failed. */
int cri_prom_accept(cri_prom_sock l, int ms, cri_prom_sock *conn);
/* Waits up to ms for bytes: >0 read, 0 end of stream, -1 error or nothing within ms. */
long cri_prom_recv(cri_prom_sock c, void *buf, size_t n, int ms);
/* Sends everything, each wait at most ms: 0, or -1 when the peer went away or stalled. */
int cri_prom_send(cri_prom_sock c, const void *buf, size_t n, int ms);
void cri_prom_close(cri_prom_sock s);
/* Closes what cri_prom_listen opened. */
void cri_prom_unlisten(cri_prom_sock l);

#endif
