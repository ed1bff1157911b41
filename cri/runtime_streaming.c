/* Exec, Attach and PortForward: translate the request, let the model confirm the container
 * runs (or the sandbox is ready), and hand back a single-use streaming URL. */
#include <stdlib.h>

#include "api.pb-c.h"
#include "common/xalloc.h"
#include "cri/pbutil.h"
#include "cri/server.h"
#include "cri/streaming.h"

static int url_for(cri_call *call, const cri_stream_request *r, char **url, wc_err *err)
{
    wincri *d = cri_call_daemon(call);
    cri_streaming *s = wincri_streaming(d);
    if (!s)
        return wc_err_set(err, WC_UNAVAILABLE, "the streaming server is not running");
    if (wincri_stream_check(d, r, err) < 0)
        return -1;
    return cri_streaming_url(s, r, url, err);
}

int cri_exec_rpc(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, wc_err *err)
{
    const Runtime__V1__ExecRequest *in = (const Runtime__V1__ExecRequest *)req;
    cri_stream_request r = {
        .kind = CRI_STREAM_EXEC,
        .id = in->container_id,
        .cmd = (const char *const *)in->cmd,
        .n_cmd = in->n_cmd,
        .tty = in->tty,
        .want_stdin = in->stdin_,
        .want_stdout = in->stdout_,
        .want_stderr = in->stderr_,
    };
    char *url = NULL;
    if (url_for(call, &r, &url, err) < 0)
        return wc_err_prefix(err, "Exec in container %s", in->container_id);
    Runtime__V1__ExecResponse *out = cri_new(Runtime__V1__ExecResponse, runtime__v1__exec_response);
    out->url = url;
    *resp = &out->base;
    return 0;
}

int cri_attach_rpc(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                   wc_err *err)
{
    const Runtime__V1__AttachRequest *in = (const Runtime__V1__AttachRequest *)req;
    cri_stream_request r = {
        .kind = CRI_STREAM_ATTACH,
        .id = in->container_id,
        .tty = in->tty,
        .want_stdin = in->stdin_,
        .want_stdout = in->stdout_,
        .want_stderr = in->stderr_,
    };
    char *url = NULL;
    if (url_for(call, &r, &url, err) < 0)
        return wc_err_prefix(err, "Attach to container %s", in->container_id);
    Runtime__V1__AttachResponse *out =
        cri_new(Runtime__V1__AttachResponse, runtime__v1__attach_response);
    out->url = url;
    *resp = &out->base;
    return 0;
}

int cri_port_forward_rpc(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                         wc_err *err)
{
    const Runtime__V1__PortForwardRequest *in = (const Runtime__V1__PortForwardRequest *)req;
    int *ports = wc_xcalloc(in->n_port + 1, sizeof *ports);
    for (size_t i = 0; i < in->n_port; i++)
        ports[i] = in->port[i];
    cri_stream_request r = {
        .kind = CRI_STREAM_PORTFORWARD,
        .id = in->pod_sandbox_id,
        .ports = ports,
        .n_ports = in->n_port,
    };
    char *url = NULL;
    int rc = url_for(call, &r, &url, err);
    free(ports);
    if (rc < 0)
        return wc_err_prefix(err, "PortForward into pod sandbox %s", in->pod_sandbox_id);
    Runtime__V1__PortForwardResponse *out =
        cri_new(Runtime__V1__PortForwardResponse, runtime__v1__port_forward_response);
    out->url = url;
    *resp = &out->base;
    return 0;
}
