/* State shared between cri/front.c and its platform parts. */
#ifndef WINCRI_CRI_FRONT_IMPL_H
#define WINCRI_CRI_FRONT_IMPL_H

#include <pthread.h>
#include <stdint.h>

#include "cri/front.h"

typedef struct cri_front_platform cri_front_platform;

struct cri_front {
    cri_endpoint ep;
    int internal_port;
    pthread_mutex_t ports_mu;
    uint8_t ports[65536 / 8]; /* local ports of the front's own connections to gRPC core */
    cri_front_platform *plat;
    int (*handover)(void *ctx, int fd); /* NULL: relay every connection */
    void *handover_ctx;
    int handed_over; /* ports_mu: connections given to gRPC core as they are, so far */
};

int cri_front_platform_start(cri_front *f, wc_err *err);
void cri_front_platform_stop_accepting(cri_front *f);
void cri_front_platform_free(cri_front *f);

#endif
