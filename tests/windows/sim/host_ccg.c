/* winsim host: Container Credential Guard, the HCS service settings behind gMSA.
 * HcsModifyServiceSettings takes a ModificationRequest with PropertyType
 * ContainerCredentialGuard and a ContainerCredentialGuardOperationRequest (AddInstance with
 * Id, CredentialSpec, Transport LRPC|HvSocket; RemoveInstance with Id);
 * HcsGetServiceProperties answers {"PropertyTypes":["ContainerCredentialGuard"]} with
 * {"Properties":[ContainerCredentialGuardSystemInfo]} (hcsshim internal/credentials, HCS
 * schema). Instances live until removed (vmcompute keeps them until it exits).
 *
 * What a node would refuse, refused here: a credential spec that is not a JSON object, one
 * without the ActiveDirectory CMS plugin, a DomainJoinConfig (MachineAccountName, DnsName)
 * or a GroupManagedServiceAccounts entry; and, as this host is not domain-joined, one
 * whose ActiveDirectoryConfig.HostAccountConfig.PluginGUID names no registered CCG plugin
 * (WINSIM_CCG_PLUGINS, ';'-separated; by default the Azure Key Vault plugin's
 * {859E1386-BDB4-49E8-85C7-3070B13920E1}). Test code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"

#define HCS_E_INVALID_JSON ((HRESULT)0x8037010DL)
#define REGDB_E_CLASSNOTREG_ ((HRESULT)0x80040154L)
#define DEFAULT_PLUGIN "{859E1386-BDB4-49E8-85C7-3070B13920E1}"

typedef struct ccg {
    char id[256];
    char transport[16];
    char cookie[64];
    char endpoint[128];
    char service_id[37];
    char *credspec;
} ccg;

static ccg *instances[256];
static size_t n_instances;

static ccg *find(const char *id)
{
    for (size_t i = 0; i < n_instances; i++)
        if (strcmp(instances[i]->id, id) == 0)
            return instances[i];
    return NULL;
}

static void fail(req *r, HRESULT hr, const char *msg)
{
    r->hr = hr;
    snprintf(r->note, sizeof r->note, "%s", msg);
    char *e = result_error(hr, msg);
    sb_add(&r->out, ",\"result\":");
    sb_qstr(&r->out, e);
    free(e);
}

static int plugin_registered(const char *guid)
{
    const char *list = getenv("WINSIM_CCG_PLUGINS");
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", list ? list : DEFAULT_PLUGIN);
    for (char *save = NULL, *t = strtok_r(buf, ";", &save); t; t = strtok_r(NULL, ";", &save))
        if (guid_equal(t, guid))
            return 1;
    return 0;
}

static int has_string(const sj *arr, const char *s)
{
    for (size_t i = 0; arr && i < arr->n; i++)
        if (sj_str(sj_at(arr, i)) && _stricmp(sj_str(sj_at(arr, i)), s) == 0)
            return 1;
    return 0;
}

/* What CCG checks of a credential spec before it registers an instance. */
static HRESULT check_credspec(const char *text, char *why, size_t size)
{
    sj *cs = text ? sj_parse(text) : NULL;
    HRESULT hr = S_OK;
    const char *plugin = sj_str(
        sj_path(cs, "ActiveDirectoryConfig", "HostAccountConfig", "PluginGUID", NULL));
    sj *gmsas = sj_path(cs, "ActiveDirectoryConfig", "GroupManagedServiceAccounts", NULL);
    if (!cs || cs->type != SJ_OBJ) {
        snprintf(why, size, "the credential spec is not a JSON object");
        hr = HCS_E_INVALID_JSON;
    } else if (!has_string(sj_get(cs, "CmsPlugins"), "ActiveDirectory")) {
        snprintf(why, size, "the credential spec's CmsPlugins lack ActiveDirectory");
        hr = E_INVALIDARG;
    } else if (!sj_str(sj_path(cs, "DomainJoinConfig", "MachineAccountName", NULL)) ||
               !sj_str(sj_path(cs, "DomainJoinConfig", "DnsName", NULL))) {
        snprintf(why, size, "the credential spec has no DomainJoinConfig MachineAccountName and "
                            "DnsName");
        hr = E_INVALIDARG;
    } else if (!gmsas || gmsas->n == 0) {
        snprintf(why, size, "the credential spec names no GroupManagedServiceAccounts");
        hr = E_INVALIDARG;
    } else if (!plugin || !plugin_registered(plugin)) {
        snprintf(why, size,
                 "this host is not domain-joined and the credential spec's CCG plugin %s is "
                 "not registered",
                 plugin ? plugin : "(none: HostAccountConfig.PluginGUID)");
        hr = REGDB_E_CLASSNOTREG_;
    }
    sj_free(cs);
    return hr;
}

static void add_instance(req *r, const sj *d)
{
    const char *id = sj_str(sj_get(d, "Id"));
    const char *t = sj_str(sj_get(d, "Transport"));
    const char *cs = sj_str(sj_get(d, "CredentialSpec"));
    char why[200];
    if (!id || !*id || !t || (strcmp(t, "LRPC") != 0 && strcmp(t, "HvSocket") != 0)) {
        fail(r, E_INVALIDARG, "AddInstance needs an Id and a Transport (LRPC or HvSocket)");
        return;
    }
    free(r->journal_id);
    r->journal_id = xstrdup(id);
    if (find(id)) {
        fail(r, HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS), "an instance with this Id exists");
        return;
    }
    HRESULT hr = check_credspec(cs, why, sizeof why);
    if (FAILED(hr) || n_instances == 256) {
        fail(r, FAILED(hr) ? hr : E_OUTOFMEMORY, FAILED(hr) ? why : "too many instances");
        return;
    }
    ccg *g = calloc(1, sizeof *g);
    snprintf(g->id, sizeof g->id, "%s", id);
    snprintf(g->transport, sizeof g->transport, "%s", t);
    char guid[37];
    guid_new(guid);
    snprintf(g->cookie, sizeof g->cookie, "%.32s", guid); /* opaque to the client */
    for (char *c = g->cookie; *c; c++)
        if (*c == '-')
            *c = 'A';
    snprintf(g->endpoint, sizeof g->endpoint, "ccg-%s", guid);
    if (strcmp(t, "HvSocket") == 0)
        guid_new(g->service_id);
    g->credspec = xstrdup(cs);
    instances[n_instances++] = g;
    snprintf(r->note, sizeof r->note, "instance added (%s)", t);
}

static void remove_instance(req *r, const sj *d)
{
    const char *id = sj_str(sj_get(d, "Id"));
    free(r->journal_id);
    r->journal_id = xstrdup(id);
    for (size_t i = 0; id && i < n_instances; i++) {
        if (strcmp(instances[i]->id, id) == 0) {
            free(instances[i]->credspec);
            free(instances[i]);
            instances[i] = instances[--n_instances];
            snprintf(r->note, sizeof r->note, "instance removed");
            return;
        }
    }
    fail(r, HRESULT_FROM_WIN32(ERROR_NOT_FOUND), "no instance with this Id");
}

static void h_modify_service(req *r)
{
    r->doc = sj_str(sj_get(r->in, "doc"));
    sj *doc = r->doc ? sj_parse(r->doc) : NULL;
    const char *pt = sj_str(sj_get(doc, "PropertyType"));
    const char *op = sj_str(sj_path(doc, "Settings", "Operation", NULL));
    sj *d = sj_path(doc, "Settings", "OperationDetails", NULL);
    if (!doc || doc->type != SJ_OBJ)
        fail(r, HCS_E_INVALID_JSON, "the settings are not a JSON object");
    else if (!pt || strcmp(pt, "ContainerCredentialGuard") != 0)
        fail(r, E_INVALIDARG, "only PropertyType ContainerCredentialGuard is modelled");
    else if (op && strcmp(op, "AddInstance") == 0)
        add_instance(r, d);
    else if (op && strcmp(op, "RemoveInstance") == 0)
        remove_instance(r, d);
    else
        fail(r, E_INVALIDARG, "Operation must be AddInstance or RemoveInstance");
    sj_free(doc);
}

static void instance_json(sb *b, const ccg *g)
{
    sb_add(b, "{\"Id\":");
    sb_qstr(b, g->id);
    sb_add(b, ",\"CredentialGuard\":{\"Cookie\":");
    sb_qstr(b, g->cookie);
    sb_add(b, ",\"RpcEndpoint\":");
    sb_qstr(b, g->endpoint);
    sb_add(b, ",\"Transport\":");
    sb_qstr(b, g->transport);
    sb_add(b, ",\"CredentialSpec\":");
    sb_qstr(b, g->credspec);
    sb_add(b, "}");
    if (g->service_id[0]) {
        sb_add(b, ",\"HvSocketConfig\":{\"ServiceId\":");
        sb_qstr(b, g->service_id);
        sb_add(b, ",\"ServiceConfig\":{\"BindSecurityDescriptor\":\"D:P(A;;FA;;;SY)\","
                  "\"ConnectSecurityDescriptor\":\"D:P(A;;FA;;;SY)\"}}");
    }
    sb_add(b, "}");
}

static void h_service_properties(req *r)
{
    r->doc = sj_str(sj_get(r->in, "doc"));
    sj *q = r->doc ? sj_parse(r->doc) : NULL;
    sj *types = sj_get(q, "PropertyTypes");
    if (!types || types->type != SJ_ARR || types->n != 1 ||
        !has_string(types, "ContainerCredentialGuard")) {
        sj_free(q);
        fail(r, E_INVALIDARG, "only PropertyTypes [ContainerCredentialGuard] is modelled");
        return;
    }
    sj_free(q);
    sb b = {0};
    sb_add(&b, "{\"Properties\":[{\"Instances\":[");
    for (size_t i = 0; i < n_instances; i++) {
        if (i)
            sb_add(&b, ",");
        instance_json(&b, instances[i]);
    }
    sb_add(&b, "]}]}");
    sb_add(&r->out, ",\"result\":");
    sb_qstr(&r->out, b.p);
    free(b.p);
}

int ccg_state_check(const sj *state, int hosted, char *service_id, char *note, size_t size)
{
    const char *cookie = sj_str(sj_get(state, "Cookie"));
    const char *ep = sj_str(sj_get(state, "RpcEndpoint"));
    for (size_t i = 0; cookie && ep && i < n_instances; i++) {
        ccg *g = instances[i];
        if (strcmp(g->cookie, cookie) != 0 || strcmp(g->endpoint, ep) != 0)
            continue;
        if (strcmp(g->transport, hosted ? "HvSocket" : "LRPC") != 0) {
            snprintf(note, size, "ContainerCredentialGuard: instance %s has transport %s", g->id,
                     g->transport);
            return 0;
        }
        snprintf(service_id, 37, "%s", g->service_id);
        return 1;
    }
    snprintf(note, size, "ContainerCredentialGuard names no registered instance");
    return 0;
}

void ccg_stats(sb *out)
{
    sb_add(out, ",\"ccg_instances\":[");
    for (size_t i = 0; i < n_instances; i++) {
        if (i)
            sb_add(out, ",");
        sb_qstr(out, instances[i]->id);
    }
    sb_add(out, "]");
}

void ccg_register(void)
{
    host_register("HcsModifyServiceSettings", h_modify_service);
    host_register("HcsGetServiceProperties", h_service_properties);
}
