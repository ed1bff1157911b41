/* RuntimeService handlers defined outside runtime_service.c. */
#ifndef WINCRI_CRI_RUNTIME_HANDLERS_H
#define WINCRI_CRI_RUNTIME_HANDLERS_H

#include "cri/server.h"

#define CRI_HANDLER(name)                                                                          \
    int name(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, wc_err *err)

CRI_HANDLER(cri_run_pod_sandbox);
CRI_HANDLER(cri_stop_pod_sandbox);
CRI_HANDLER(cri_remove_pod_sandbox);
CRI_HANDLER(cri_pod_sandbox_status);
CRI_HANDLER(cri_list_pod_sandbox);
CRI_HANDLER(cri_create_container);
CRI_HANDLER(cri_start_container);
CRI_HANDLER(cri_stop_container);
CRI_HANDLER(cri_remove_container);
CRI_HANDLER(cri_container_status);
CRI_HANDLER(cri_list_containers);
CRI_HANDLER(cri_exec_sync);
CRI_HANDLER(cri_reopen_container_log);

CRI_HANDLER(cri_container_stats);
CRI_HANDLER(cri_list_container_stats);
CRI_HANDLER(cri_pod_sandbox_stats);
CRI_HANDLER(cri_list_pod_sandbox_stats);
CRI_HANDLER(cri_update_container_resources);
CRI_HANDLER(cri_update_pod_sandbox_resources);
CRI_HANDLER(cri_list_metric_descriptors);
CRI_HANDLER(cri_list_pod_sandbox_metrics);

#define CRI_STREAM_HANDLER(name) int name(cri_call *call, const ProtobufCMessage *req, wc_err *err)

CRI_STREAM_HANDLER(cri_stream_pod_sandboxes);
CRI_STREAM_HANDLER(cri_stream_containers);
CRI_STREAM_HANDLER(cri_get_container_events);
CRI_STREAM_HANDLER(cri_stream_container_stats);
CRI_STREAM_HANDLER(cri_stream_pod_sandbox_stats);
CRI_STREAM_HANDLER(cri_stream_pod_sandbox_metrics);

#endif
