/* gMSA identities: Container Credential Guard instances, registered with HCS through
 * HcsModifyServiceSettings before a container's compute system is made and removed when it
 * goes (hcsshim internal/credentials: CreateCredentialGuard, CCGResource.Release). An
 * instance that cannot be registered fails the create with FAILED_PRECONDITION naming
 * HCS's reason: a container never runs without the identity it asked for. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "common/wstr_win32.h"
#include "hcs/hcs_win32_api.h"
#include "hcs/hresult.h"
#include "hcs/runtime_win32.h"

/* HcsModifyServiceSettings / HcsGetServiceProperties, resolved when first needed so that a
 * host without them still runs containers that ask for no identity. */
typedef __typeof__(&HcsModifyServiceSettings) modify_fn;
typedef __typeof__(&HcsGetServiceProperties) props_fn;

static int service_call(const char *name, const json_t *doc, char **result, wc_err *err)
{
    *result = NULL;
    if (hcs_api_load(err) < 0)
        return -1;
    wc_dll_fn fn = wc_dll_proc(&hcs_computecore, name, err);
    if (!fn)
        return -1;
    char *text = json_dumps(doc, JSON_COMPACT);
    wchar_t *w = wc_utf8_to_utf16(text, err);
    free(text);
    if (!w)
        return -1;
    PWSTR out = NULL;
    HRESULT hr = strcmp(name, "HcsModifyServiceSettings") == 0 ? ((modify_fn)fn)(w, &out)
                                                               : ((props_fn)fn)(w, &out);
    free(w);
    wc_err ignored = {0};
    char *res = out ? wc_utf16_to_utf8(out, &ignored) : NULL;
    if (out)
        LocalFree(out);
    if (FAILED(hr)) {
        hcs_err_from_result(err, hr, res, "%s", name);
        free(res);
        return -1;
    }
    *result = res;
    return 0;
}

static int ccg_remove(const char *id, wc_err *err)
{
    json_t *req = hcs_doc_ccg_remove(id);
    char *res = NULL;
    int rc = service_call("HcsModifyServiceSettings", req, &res, err);
    free(res);
    json_decref(req);
    return rc;
}

/* The added instance as HCS lists it. */
static int ccg_lookup(const char *id, json_t **instance, wc_err *err)
{
    json_t *q = hcs_doc_ccg_query();
    char *props = NULL;
    int rc = service_call("HcsGetServiceProperties", q, &props, err);
    json_decref(q);
    if (rc == 0)
        rc = hcs_ccg_instance_find(props, id, instance, err);
    free(props);
    return rc;
}

int hcs_ccg_register(hcs_ctr *c, int hyperv, json_t **instance, wc_err *err)
{
    *instance = NULL;
    const char *cs =
        json_string_value(json_object_get(json_object_get(c->spec, "windows"), "credentialSpec"));
    if (!cs || !*cs)
        return 0;
    json_t *req = NULL;
    char *res = NULL;
    int rc = hcs_doc_ccg_add(c->id, cs, hyperv, &req, err);
    if (rc == 0)
        rc = service_call("HcsModifyServiceSettings", req, &res, err);
    json_decref(req);
    free(res);
    if (rc == 0) {
        c->ccg_added = 1;
        rc = ccg_lookup(c->id, instance, err);
    }
    if (rc < 0) {
        /* The caller undoes the create, and with it an instance that was added. */
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        long sys = err->sys;
        wc_err_set(err, WC_FAILED_PRECONDITION,
                   "container %s: its gMSA credential spec cannot be honoured, so it is not run "
                   "without that identity: Container Credential Guard refused it: %s",
                   c->id, msg);
        err->sys = sys;
        return -1;
    }
    wc_info("hcs", "credential guard instance added", "id=%s transport=%s", c->id,
            hyperv ? "HvSocket" : "LRPC");
    return 0;
}

void hcs_ccg_release(hcs_ctr *c)
{
    /* After a restart the record's spec tells whether an instance was added. */
    int had = c->ccg_added ||
              (c->adopted && json_string_value(json_object_get(json_object_get(c->spec, "windows"),
                                                               "credentialSpec")));
    if (!had)
        return;
    wc_err e = {0};
    if (ccg_remove(c->id, &e) < 0)
        wc_warn("hcs", "cannot remove credential guard instance", "id=%s err=\"%s\"", c->id, e.msg);
    c->ccg_added = 0;
}
