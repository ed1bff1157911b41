/* gRPC core's server behind a cri_server, for the platform parts of cri/ only. */
#ifndef WINCRI_CRI_SERVER_CORE_H
#define WINCRI_CRI_SERVER_CORE_H

#include <grpc/grpc.h>

#include "cri/server.h"

grpc_server *cri_server_core(cri_server *srv);

#endif
