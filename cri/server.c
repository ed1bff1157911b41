#include "cri/server.h"
#include "cri/server_core.h"

#include "cri/arena.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "cri/daemon.h"
#include "cri/pbcheck.h"
#include "cri/prometheus.h"
#include "cri/pbutil.h"
#include "common/workers.h"
#include "common/xalloc.h"

/* kubelet's limit on CRI messages, both directions. */
#define MAX_MESSAGE_BYTES (16 * 1024 * 1024)
/* Outstanding grpc_server_request_call slots: how many new calls core can hand over at once. */
#define REQUEST_SLOTS 16
/* Threads waiting on the new-call queue. The thread that takes a call runs it (no hand-over
 * to another thread on the call's path) and first makes sure another one waits. */
#define MIN_IDLE_POLLERS 2

typedef struct dispatch_entry {
    char *path; /* "/runtime.v1.RuntimeService/Version" */
    const ProtobufCMessageDescriptor *input;
    const cri_method *method; /* NULL: no behaviour yet */
} dispatch_entry;

struct cri_server {
    grpc_server *server;
    grpc_completion_queue *cq; /* new-call and shutdown notifications */
    int port;
    cri_server_opts opts;
    dispatch_entry *table;
    size_t n_table;
    wc_workers *workers;
    pthread_mutex_t mu;
    pthread_cond_t idle;
    int active_calls;
    int shutting_down;
    int pollers;      /* mu: poll_calls jobs running */
    int idle_pollers; /* mu: of them, waiting for a call */
};

/* One pending request for a new call; its CQ becomes the call's own pluck queue. */
typedef struct slot {
    cri_server *srv;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array metadata;
    grpc_completion_queue *call_cq;
} slot;

struct cri_call {
    cri_server *srv;
    grpc_call *call;
    grpc_completion_queue *cq;
    char *method;
    int64_t deadline_ns; /* monotonic */
    int close_done;
    int cancelled;
    int sent_initial_metadata;
    char close_tag;
    char batch_tag;
    cri_arena *arena; /* the response lives in it (cri_call_answer_in_arena) */
};

static int shutdown_tag;

void cri_call_answer_in_arena(cri_call *call)
{
    if (!call->arena)
        call->arena = cri_arena_new();
    cri_arena_use(call->arena);
}

/* ---- dispatch table ---- */

static const cri_method *find_handler(const cri_method *methods, const char *name)
{
    for (const cri_method *m = methods; m->name; m++)
        if (strcmp(m->name, name) == 0)
            return m;
    return NULL;
}

static void add_service(cri_server *srv, const ProtobufCServiceDescriptor *svc,
                        const cri_method *methods)
{
    srv->table = wc_xrealloc(srv->table, (srv->n_table + svc->n_methods) * sizeof *srv->table);
    for (unsigned i = 0; i < svc->n_methods; i++) {
        dispatch_entry *e = &srv->table[srv->n_table++];
        size_t len = strlen(svc->name) + strlen(svc->methods[i].name) + 3;
        e->path = wc_xmalloc(len);
        snprintf(e->path, len, "/%s/%s", svc->name, svc->methods[i].name);
        e->input = svc->methods[i].input;
        e->method = find_handler(methods, svc->methods[i].name);
    }
}

static const dispatch_entry *lookup(const cri_server *srv, const char *path)
{
    for (size_t i = 0; i < srv->n_table; i++)
        if (strcmp(srv->table[i].path, path) == 0)
            return &srv->table[i];
    return NULL;
}

/* ---- per-call plumbing ---- */

static int pluck(cri_call *c, void *tag, gpr_timespec until)
{
    grpc_event ev = grpc_completion_queue_pluck(c->cq, tag, until, NULL);
    if (ev.type != GRPC_OP_COMPLETE)
        return -1;
    return ev.success ? 0 : -1;
}

static int run_batch(cri_call *c, const grpc_op *ops, size_t n)
{
    if (grpc_call_start_batch(c->call, ops, n, &c->batch_tag, NULL) != GRPC_CALL_OK)
        return -1;
    return pluck(c, &c->batch_tag, gpr_inf_future(GPR_CLOCK_REALTIME));
}

wincri *cri_call_daemon(cri_call *call)
{
    return call->srv->opts.daemon;
}

const char *cri_call_method(cri_call *call)
{
    return call->method;
}

int cri_call_server_stopping(cri_call *call)
{
    pthread_mutex_lock(&call->srv->mu);
    int stopping = call->srv->shutting_down;
    pthread_mutex_unlock(&call->srv->mu);
    return stopping;
}

int64_t cri_call_deadline_ns(cri_call *call)
{
    return call->deadline_ns;
}

int cri_call_cancelled(cri_call *c)
{
    if (!c->close_done) {
        grpc_event ev = grpc_completion_queue_pluck(c->cq, &c->close_tag,
                                                    gpr_inf_past(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_OP_COMPLETE)
            c->close_done = 1;
    }
    /* Before the status is sent, the close op only completes when the client gave up. */
    if (c->close_done)
        return 1;
    return wc_clock_monotonic_ns() > c->deadline_ns;
}

static grpc_byte_buffer *pack_message(const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    grpc_slice slice = grpc_slice_malloc(len);
    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(slice));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    return bb;
}

int cri_call_send(cri_call *c, const ProtobufCMessage *msg, wc_err *err)
{
    grpc_op ops[2];
    size_t n = 0;
    memset(ops, 0, sizeof ops);
    if (!c->sent_initial_metadata) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        c->sent_initial_metadata = 1;
    }
    grpc_byte_buffer *bb = pack_message(msg);
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = bb;
    int rc = run_batch(c, ops, n);
    grpc_byte_buffer_destroy(bb);
    if (rc < 0)
        return wc_err_set(err, WC_CANCELLED, "%s: the client went away while streaming", c->method);
    return 0;
}

static ProtobufCMessage *unpack(const char *method, const ProtobufCMessageDescriptor *input,
                                const uint8_t *data, size_t len, wc_err *err)
{
    /* Strings are checked on the wire: protobuf-c would cut one at a NUL without a word. */
    if (cri_check_strings(input, data, len, err) < 0) {
        wc_err_prefix(err, "%s: malformed request", method);
        return NULL;
    }
    ProtobufCMessage *req = protobuf_c_message_unpack(input, NULL, len, data);
    /* protobuf-c reads some encodings it does not read back once it has written them (field
     * number 0 in a tag of two bytes or more); responses echo parts of requests, so such a
     * request is malformed as well. */
    ProtobufCMessage *copy = req ? cri_copy(req) : NULL;
    if (copy) {
        protobuf_c_message_free_unpacked(copy, NULL);
        return req;
    }
    if (req)
        protobuf_c_message_free_unpacked(req, NULL);
    wc_err_set(err, WC_INVALID_ARGUMENT, "%s: malformed request: the bytes do not decode as %s",
               method, input->name);
    return NULL;
}

ProtobufCMessage *cri_request_decode(const char *path, const uint8_t *data, size_t len, wc_err *err)
{
    static const ProtobufCServiceDescriptor *const services[] = {
        &runtime__v1__runtime_service__descriptor, &runtime__v1__image_service__descriptor};
    for (size_t i = 0; i < sizeof services / sizeof services[0]; i++) {
        const ProtobufCServiceDescriptor *svc = services[i];
        size_t n = strlen(svc->name);
        if (path[0] != '/' || strncmp(path + 1, svc->name, n) != 0 || path[n + 1] != '/')
            continue;
        const ProtobufCMethodDescriptor *m =
            protobuf_c_service_descriptor_get_method_by_name(svc, path + n + 2);
        if (m)
            return unpack(path, m->input, data, len, err);
    }
    wc_err_set(err, WC_UNIMPLEMENTED, "unknown method %s", path);
    return NULL;
}

static ProtobufCMessage *receive_request(cri_call *c, const dispatch_entry *e, wc_err *err)
{
    grpc_byte_buffer *bb = NULL;
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &bb;
    if (run_batch(c, &op, 1) < 0 || !bb) {
        if (bb)
            grpc_byte_buffer_destroy(bb);
        wc_err_set(err, WC_INVALID_ARGUMENT, "%s: the request carried no message", c->method);
        return NULL;
    }
    grpc_byte_buffer_reader reader;
    grpc_byte_buffer_reader_init(&reader, bb);
    grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    grpc_byte_buffer_destroy(bb);
    ProtobufCMessage *req =
        unpack(c->method, e->input, GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all), err);
    grpc_slice_unref(all);
    return req;
}

/* Test-only fault injection: hold the call for the configured time, unless it is cancelled. */
static void injected_delay(cri_call *c)
{
    int ms = wc_config_rpc_delay_ms(c->srv->opts.daemon->cfg, c->method);
    int64_t until = wc_clock_monotonic_ns() + (int64_t)ms * 1000000;
    while (ms > 0 && wc_clock_monotonic_ns() < until && !cri_call_cancelled(c))
        wc_sleep_ms(10);
}

static void send_status(cri_call *c, const ProtobufCMessage *resp, const wc_err *err)
{
    grpc_op ops[3];
    size_t n = 0;
    memset(ops, 0, sizeof ops);
    if (!c->sent_initial_metadata) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        c->sent_initial_metadata = 1;
    }
    grpc_byte_buffer *bb = NULL;
    if (resp) {
        bb = pack_message(resp);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = bb;
    }
    grpc_slice details = grpc_slice_from_copied_string(err->code == WC_OK ? "" : err->msg);
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = (grpc_status_code)err->code;
    ops[n++].data.send_status_from_server.status_details = &details;
    run_batch(c, ops, n);
    grpc_slice_unref(details);
    if (bb)
        grpc_byte_buffer_destroy(bb);
}

static int peer_allowed(cri_call *c, wc_err *err)
{
    const cri_server_opts *o = &c->srv->opts;
    if (!o->peer_allowed)
        return 0;
    char *peer = grpc_call_get_peer(c->call);
    int ok = o->peer_allowed(o->peer_ctx, peer);
    if (!ok)
        wc_err_set(err, WC_PERMISSION_DENIED,
                   "%s: connection from %s did not come through wincri's endpoint; "
                   "the internal gRPC port accepts only the daemon's own front end",
                   c->method, peer);
    gpr_free(peer);
    return ok ? 0 : -1;
}

static void handle(cri_call *c, const dispatch_entry *e, ProtobufCMessage **req,
                   ProtobufCMessage **resp, wc_err *err)
{
    if (peer_allowed(c, err) < 0)
        return;
    if (!e) {
        wc_err_set(err, WC_UNIMPLEMENTED, "unknown method %s", c->method);
        return;
    }
    *req = receive_request(c, e, err);
    if (!*req)
        return;
    if (!e->method) {
        wc_err_set(err, WC_UNIMPLEMENTED, "%s is not implemented by wincri yet", c->method);
        return;
    }
    injected_delay(c);
    if (cri_call_cancelled(c)) {
        wc_err_set(err, WC_CANCELLED, "%s: cancelled by the client or past its deadline",
                   c->method);
        return;
    }
    int rc =
        e->method->unary ? e->method->unary(c, *req, resp, err) : e->method->stream(c, *req, err);
    if (rc == 0)
        wc_err_clear(err);
    else if (err->code == WC_OK)
        wc_err_set(err, WC_INTERNAL, "%s failed without saying why", c->method);
}

static void finish_call(cri_call *c)
{
    grpc_call_unref(c->call);
    grpc_completion_queue_shutdown(c->cq);
    while (
        grpc_completion_queue_pluck(c->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
        GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(c->cq);
    free(c->method);
    free(c);
}

static void run_call(void *arg)
{
    cri_call *c = arg;
    int64_t t0 = wc_clock_monotonic_ns();
    grpc_op close_op;
    memset(&close_op, 0, sizeof close_op);
    close_op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    close_op.data.recv_close_on_server.cancelled = &c->cancelled;
    grpc_call_start_batch(c->call, &close_op, 1, &c->close_tag, NULL);

    wc_err err = {0};
    ProtobufCMessage *req = NULL, *resp = NULL;
    const dispatch_entry *e = lookup(c->srv, c->method);
    handle(c, e, &req, &resp, &err);
    cri_arena_use(NULL);
    send_status(c, err.code == WC_OK ? resp : NULL, &err);
    if (!c->close_done)
        pluck(c, &c->close_tag, gpr_inf_future(GPR_CLOCK_REALTIME));
    if (c->cancelled && err.code == WC_OK)
        wc_err_set(&err, WC_CANCELLED, "cancelled by the client");

    wc_log(
        err.code == WC_OK || err.code == WC_UNIMPLEMENTED || err.code == WC_NOT_FOUND ? WC_LOG_DEBUG
                                                                                      : WC_LOG_INFO,
        "cri", "rpc", "method=%s code=%s duration_ms=%.3f%s%s%s", c->method, wc_code_name(err.code),
        (double)(wc_clock_monotonic_ns() - t0) / 1e6, err.code == WC_OK ? "" : " error=\"",
        err.code == WC_OK ? "" : err.msg, err.code == WC_OK ? "" : "\"");
    cri_prom_rpc(c->method, e != NULL, err.code, (double)(wc_clock_monotonic_ns() - t0) / 1e9);
    if (req)
        protobuf_c_message_free_unpacked(req, NULL);
    if (resp && !c->arena)
        protobuf_c_message_free_unpacked(resp, NULL);
    cri_arena_free(c->arena);

    cri_server *srv = c->srv;
    finish_call(c);
    pthread_mutex_lock(&srv->mu);
    if (--srv->active_calls == 0)
        pthread_cond_broadcast(&srv->idle);
    pthread_mutex_unlock(&srv->mu);
}

/* ---- accepting calls ---- */

static int64_t deadline_to_monotonic(gpr_timespec deadline)
{
    gpr_timespec rt = gpr_convert_clock_type(deadline, GPR_CLOCK_REALTIME);
    if (rt.tv_sec >= INT64_MAX / 2000000000LL)
        return INT64_MAX;
    gpr_timespec left = gpr_time_sub(rt, gpr_now(GPR_CLOCK_REALTIME));
    return wc_clock_monotonic_ns() + left.tv_sec * 1000000000LL + left.tv_nsec;
}

static void arm_slot(cri_server *srv)
{
    slot *s = wc_xcalloc(1, sizeof *s);
    s->srv = srv;
    grpc_call_details_init(&s->details);
    grpc_metadata_array_init(&s->metadata);
    s->call_cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_call_error rc = grpc_server_request_call(srv->server, &s->call, &s->details, &s->metadata,
                                                  s->call_cq, srv->cq, s);
    if (rc != GRPC_CALL_OK) {
        wc_error("cri", "cannot request new calls", "grpc_error=%d", (int)rc);
        grpc_completion_queue_destroy(s->call_cq);
        free(s);
    }
}

static void free_slot(slot *s, int keep_cq)
{
    grpc_call_details_destroy(&s->details);
    grpc_metadata_array_destroy(&s->metadata);
    if (!keep_cq) {
        grpc_completion_queue_shutdown(s->call_cq);
        grpc_completion_queue_destroy(s->call_cq);
    }
    free(s);
}

static cri_call *call_of_slot(cri_server *srv, slot *s)
{
    cri_call *c = wc_xcalloc(1, sizeof *c);
    c->srv = srv;
    c->call = s->call;
    c->cq = s->call_cq;
    c->method = grpc_slice_to_c_string(s->details.method);
    c->deadline_ns = deadline_to_monotonic(s->details.deadline);
    free_slot(s, 1);
    pthread_mutex_lock(&srv->mu);
    srv->active_calls++;
    pthread_mutex_unlock(&srv->mu);
    return c;
}

static void poll_calls(void *arg);

/* Runs on the pool: a parked thread is woken, off the path of the call just taken. */
static void add_poller_locked(cri_server *srv)
{
    srv->pollers++;
    srv->idle_pollers++;
    wc_workers_submit(srv->workers, poll_calls, srv);
}

/* A poller took a call: another waits for the next before this one runs it. */
static void took_call(cri_server *srv)
{
    pthread_mutex_lock(&srv->mu);
    if (--srv->idle_pollers < 1)
        add_poller_locked(srv);
    pthread_mutex_unlock(&srv->mu);
}

/* Its call done, a poller waits again unless enough do (then its thread goes back). */
static int poller_stays(cri_server *srv)
{
    pthread_mutex_lock(&srv->mu);
    int stay = srv->idle_pollers < MIN_IDLE_POLLERS;
    if (stay)
        srv->idle_pollers++;
    else
        srv->pollers--;
    pthread_cond_broadcast(&srv->idle);
    pthread_mutex_unlock(&srv->mu);
    return stay;
}

static void poll_calls(void *arg)
{
    cri_server *srv = arg;
    for (;;) {
        grpc_event ev =
            grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.tag == &shutdown_tag) {
            grpc_completion_queue_shutdown(srv->cq);
            continue;
        }
        slot *s = ev.tag;
        if (!ev.success) {
            free_slot(s, 0); /* the server is shutting down */
            continue;
        }
        took_call(srv);
        cri_call *c = call_of_slot(srv, s);
        arm_slot(srv);
        run_call(c);
        if (!poller_stays(srv))
            return;
    }
    pthread_mutex_lock(&srv->mu);
    srv->pollers--;
    srv->idle_pollers--;
    pthread_cond_broadcast(&srv->idle);
    pthread_mutex_unlock(&srv->mu);
}

int cri_server_start(const cri_server_opts *opts, cri_server **out, wc_err *err)
{
    cri_server *srv = wc_xcalloc(1, sizeof *srv);
    srv->opts = *opts;
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->idle, NULL);
    add_service(srv, &runtime__v1__runtime_service__descriptor, cri_runtime_methods);
    add_service(srv, &runtime__v1__image_service__descriptor, cri_image_methods);

    grpc_arg args[2];
    args[0].type = args[1].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[1].key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[0].value.integer = args[1].value.integer = MAX_MESSAGE_BYTES;
    grpc_channel_args channel_args = {2, args};
    srv->server = grpc_server_create(&channel_args, NULL);
    srv->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(srv->server, srv->cq, NULL);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    srv->port = grpc_server_add_http2_port(srv->server, opts->internal_endpoint, creds);
    grpc_server_credentials_release(creds);
    if (srv->port <= 0) {
        grpc_server_destroy(srv->server);
        grpc_completion_queue_destroy(srv->cq);
        free(srv);
        return wc_err_set(err, WC_UNAVAILABLE, "gRPC core cannot listen on %s",
                          opts->internal_endpoint);
    }
    srv->workers = wc_workers_new(512);
    grpc_server_start(srv->server);
    for (int i = 0; i < REQUEST_SLOTS; i++)
        arm_slot(srv);
    pthread_mutex_lock(&srv->mu);
    for (int i = 0; i < MIN_IDLE_POLLERS; i++)
        add_poller_locked(srv);
    pthread_mutex_unlock(&srv->mu);
    *out = srv;
    return 0;
}

int cri_server_port(const cri_server *srv)
{
    return srv->port;
}

grpc_server *cri_server_core(cri_server *srv)
{
    return srv->server;
}

/* Waits until no call is in flight or the monotonic deadline passes; 0 when idle. */
static int wait_idle(cri_server *srv, int64_t until_ns)
{
    pthread_mutex_lock(&srv->mu);
    while (srv->active_calls > 0 && wc_clock_monotonic_ns() < until_ns) {
        pthread_mutex_unlock(&srv->mu);
        wc_sleep_ms(20);
        pthread_mutex_lock(&srv->mu);
    }
    int busy = srv->active_calls;
    pthread_mutex_unlock(&srv->mu);
    return busy;
}

void cri_server_shutdown(cri_server *srv, int grace_ms)
{
    pthread_mutex_lock(&srv->mu);
    srv->shutting_down = 1;
    pthread_mutex_unlock(&srv->mu);
    grpc_server_shutdown_and_notify(srv->server, srv->cq, &shutdown_tag);
    int busy = wait_idle(srv, wc_clock_monotonic_ns() + (int64_t)grace_ms * 1000000);
    if (busy) {
        wc_warn("cri", "grace period over; cancelling calls still in flight", "calls=%d", busy);
        grpc_server_cancel_all_calls(srv->server);
        wait_idle(srv, INT64_MAX);
    }
    pthread_mutex_lock(&srv->mu);
    while (srv->pollers > 0) /* each sees the queue shut down */
        pthread_cond_wait(&srv->idle, &srv->mu);
    pthread_mutex_unlock(&srv->mu);
    grpc_server_destroy(srv->server);
    grpc_completion_queue_destroy(srv->cq);
    wc_workers_free(srv->workers);
    for (size_t i = 0; i < srv->n_table; i++)
        free(srv->table[i].path);
    free(srv->table);
    pthread_mutex_destroy(&srv->mu);
    pthread_cond_destroy(&srv->idle);
    free(srv);
}
