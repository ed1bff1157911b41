/* OCI spec → HCS Container object, and the process-isolated ComputeSystem document.
 * Shapes follow hcsshim's createWindowsContainerDocument (internal/hcsoci/hcsdoc_wcow.go). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hcs/hcsdoc_int.h"

#define PIPE_PREFIX "\\\\.\\pipe\\"

/* Picks a resource value: the annotation when present, else the spec member. */
static int resource_u64(const json_t *spec, const char *annotation, const json_t *section,
                        const char *member, const char *where, uint64_t *v, wc_err *err)
{
    int r = hd_annotation_u64(spec, annotation, v, err);
    if (r != 0)
        return r;
    return hd_member_u64(section, member, where, v, err);
}

/* Processor: exactly one of Count / Maximum / Weight, as HCS requires. */
static int add_processor(const json_t *spec, const hcs_container_opts *o, json_t *container,
                         int *fail, wc_err *err)
{
    json_t *cpu = hd_obj(hd_obj(hd_obj(spec, "windows"), "resources"), "cpu");
    uint64_t count = 0, maximum = 0, shares = 0;
    const char *w = "windows.resources.cpu";
    if (resource_u64(spec, HCS_ANNOTATION_CPU_COUNT, cpu, "count", w, &count, err) < 0 ||
        resource_u64(spec, HCS_ANNOTATION_CPU_LIMIT, cpu, "maximum", w, &maximum, err) < 0 ||
        resource_u64(spec, HCS_ANNOTATION_CPU_WEIGHT, cpu, "shares", w, &shares, err) < 0)
        return -1;
    int set = (count > 0) + (maximum > 0) + (shares > 0);
    if (set == 0)
        return 0;
    if (set > 1)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "windows.resources.cpu: count (%llu), maximum (%llu) and shares (%llu) "
                          "are mutually exclusive on Windows; set only one",
                          (unsigned long long)count, (unsigned long long)maximum,
                          (unsigned long long)shares);
    if (maximum > 10000 || shares > 10000)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "windows.resources.cpu: maximum and shares range over 1..10000, got %llu",
                          (unsigned long long)(maximum ? maximum : shares));
    if (o && o->host_cpus && count > o->host_cpus)
        count = o->host_cpus; /* hcsshim lowers an impossible count rather than failing */
    json_t *p = json_object();
    hd_set_uint(p, "Count", count, fail);
    hd_set_uint(p, "Maximum", maximum, fail);
    hd_set_uint(p, "Weight", shares, fail);
    hd_set(container, "Processor", p, fail);
    return 0;
}

static int add_memory_and_qos(const json_t *spec, json_t *container, json_t *storage, int *fail,
                              wc_err *err)
{
    json_t *res = hd_obj(hd_obj(spec, "windows"), "resources");
    uint64_t mb = 0, limit = 0;
    int r = hd_annotation_u64(spec, HCS_ANNOTATION_MEMORY, &mb, err);
    if (r < 0)
        return -1;
    if (r == 0) {
        if (hd_member_u64(hd_obj(res, "memory"), "limit", "windows.resources.memory", &limit, err) <
            0)
            return -1;
        mb = limit / 1024 / 1024;
        if (limit && !mb)
            return wc_err_set(err, WC_INVALID_ARGUMENT,
                              "windows.resources.memory.limit: %llu bytes is below 1 MiB",
                              (unsigned long long)limit);
    }
    if (mb)
        hd_set(container, "Memory", json_pack("{s:I}", "SizeInMB", (json_int_t)mb), fail);

    json_t *st = hd_obj(res, "storage");
    uint64_t bps = 0, iops = 0;
    const char *w = "windows.resources.storage";
    if (resource_u64(spec, HCS_ANNOTATION_STORAGE_BPS, st, "bps", w, &bps, err) < 0 ||
        resource_u64(spec, HCS_ANNOTATION_STORAGE_IOPS, st, "iops", w, &iops, err) < 0)
        return -1;
    if (bps || iops) {
        json_t *q = json_object();
        hd_set_uint(q, "BandwidthMaximum", bps, fail);
        hd_set_uint(q, "IopsMaximum", iops, fail);
        hd_set(storage, "QoS", q, fail);
    }
    return 0;
}

static int add_networking(const json_t *spec, const hcs_container_opts *o, json_t *container,
                          int *fail, wc_err *err)
{
    json_t *net = hd_obj(hd_obj(spec, "windows"), "network");
    if (!net)
        return 0;
    json_t *n = json_object();
    const char *ns =
        (o && o->network_namespace) ? o->network_namespace : hd_str(net, "networkNamespace");
    hd_set_str(n, "Namespace", ns, fail);
    hd_set_true(n, "AllowUnqualifiedDnsQuery",
                json_is_true(json_object_get(net, "allowUnqualifiedDNSQuery")), fail);
    json_t *dns = json_object_get(net, "DNSSearchList");
    if (json_array_size(dns) > 0) {
        size_t len = 1, i;
        json_t *d;
        json_array_foreach(dns, i, d)
        {
            if (!json_is_string(d)) {
                json_decref(n);
                return wc_err_set(err, WC_INVALID_ARGUMENT,
                                  "windows.network.DNSSearchList[%u]: expected a string",
                                  (unsigned)i);
            }
            len += strlen(json_string_value(d)) + 1;
        }
        char *joined = wc_xcalloc(1, len);
        json_array_foreach(dns, i, d)
        {
            if (i)
                strcat(joined, ",");
            strcat(joined, json_string_value(d));
        }
        hd_set_str(n, "DnsSearchList", joined, fail);
        free(joined);
    }
    hd_set_str(n, "NetworkSharedContainerName", hd_str(net, "networkSharedContainerName"), fail);
    hd_set(container, "Networking", n, fail);
    return 0;
}

/* Named-pipe mounts. In a utility VM the host pipe is reached through the VSMB IPC$ share. */
static int add_pipes(const json_t *spec, const hcs_uvm_devices *uvm, json_t *container, int *fail,
                     wc_err *err)
{
    json_t *mounts = json_object_get(spec, "mounts");
    json_t *pipes = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(mounts, i, m)
    {
        const char *src = hd_str(m, "source"), *dst = hd_str(m, "destination");
        if (!src || strncmp(src, PIPE_PREFIX, strlen(PIPE_PREFIX)) != 0)
            continue;
        if (!dst || !*dst) {
            json_decref(pipes);
            return wc_err_set(err, WC_INVALID_ARGUMENT,
                              "mounts[%u]: pipe mount %s has no "
                              "destination",
                              (unsigned)i, src);
        }
        if (hd_has_prefix_ci(dst, PIPE_PREFIX))
            dst += strlen(PIPE_PREFIX);
        json_t *p = json_object();
        hd_set_str(p, "ContainerPipeName", dst, fail);
        if (uvm) {
            char host[1024];
            snprintf(host, sizeof host, "%sIPC$\\%s", HCS_VSMB_GUEST_PREFIX,
                     src + strlen(PIPE_PREFIX));
            hd_set_str(p, "HostPath", host, fail);
        } else {
            hd_set_str(p, "HostPath", src, fail);
        }
        hd_push(pipes, p, fail);
    }
    if (json_array_size(pipes))
        hd_set(container, "MappedPipes", pipes, fail);
    else
        json_decref(pipes);
    return 0;
}

/* windows.devices → AssignedDevices (hcsshim parseAssignedDevices; process isolation only). */
static int add_devices(const json_t *spec, const hcs_uvm_devices *uvm, json_t *container, int *fail,
                       wc_err *err)
{
    json_t *devs = json_object_get(hd_obj(spec, "windows"), "devices");
    if (json_array_size(devs) == 0)
        return 0;
    if (uvm)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "windows.devices: device assignment is supported only for "
                          "process-isolated containers");
    json_t *out = json_array();
    size_t i;
    json_t *d;
    json_array_foreach(devs, i, d)
    {
        const char *id = hd_str(d, "id"), *type = hd_str(d, "idType");
        if (!id || !type) {
            json_decref(out);
            return wc_err_set(err, WC_INVALID_ARGUMENT,
                              "windows.devices[%u]: id and idType are required", (unsigned)i);
        }
        json_t *dev = json_object();
        if (strcmp(type, "class") == 0 || strcmp(type, "vpci-class-guid") == 0) {
            hd_set_str(dev, "InterfaceClassGuid", id, fail);
        } else if (strcmp(type, "vpci-location-path") == 0) {
            hd_set_str(dev, "LocationPath", id, fail);
            hd_set_str(dev, "Type", "DeviceInstance", fail);
        } else {
            json_decref(dev);
            json_decref(out);
            return wc_err_set(err, WC_INVALID_ARGUMENT,
                              "windows.devices[%u]: idType \"%s\" is not supported (use \"class\", "
                              "\"vpci-class-guid\" or \"vpci-location-path\")",
                              (unsigned)i, type);
        }
        hd_push(out, dev, fail);
    }
    hd_set(container, "AssignedDevices", out, fail);
    return 0;
}

/* One RegistryValue (HCS schema RegistryValue, RegistryKey). */
static json_t *reg_value(const char *hive, const char *key, const char *name, const char *type,
                         const char *str, json_int_t dword)
{
    json_t *v = json_pack("{s:{s:s,s:s},s:s,s:s}", "Key", "Hive", hive, "Name", key, "Name", name,
                          "Type", type);
    if (v && str && json_object_set_new(v, "StringValue", json_string(str)) != 0) {
        json_decref(v);
        return NULL;
    }
    if (v && !str && json_object_set_new(v, "DWordValue", json_integer(dword)) != 0) {
        json_decref(v);
        return NULL;
    }
    return v;
}

#define WER_LOCAL_DUMPS "Microsoft\\Windows\\Windows Error Reporting\\LocalDumps"

/* hcsshim createWindowsContainerDocument (internal/hcsoci/hcsdoc_wcow.go): the
 * WaitToKillServiceTimeout String value under System\ControlSet001\Control, then with a
 * process dump location the WER LocalDumps values, DumpType from parseDumpType. */
int hcs_doc_registry_changes(const json_t *spec, unsigned wait_to_kill_ms, json_t **out,
                             wc_err *err)
{
    *out = NULL;
    json_t *ann = hd_obj(spec, "annotations");
    json_t *loc = json_object_get(ann, HCS_ANNOTATION_DUMP_LOCATION);
    json_t *type = json_object_get(ann, HCS_ANNOTATION_DUMP_TYPE);
    const char *dump = json_string_value(loc);
    json_int_t dump_type = 2; /* full, hcsshim's default */
    if (loc && !json_is_string(loc))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "annotation %s: expected a string",
                          HCS_ANNOTATION_DUMP_LOCATION);
    if (dump && *dump && type) {
        const char *t = json_string_value(type);
        if (t && strcmp(t, "mini") == 0)
            dump_type = 1;
        else if (!t || (*t && strcmp(t, "full") != 0))
            return wc_err_set(err, WC_INVALID_ARGUMENT,
                              "annotation %s: unknown dump type \"%s\"; use \"mini\" or \"full\"",
                              HCS_ANNOTATION_DUMP_TYPE, t ? t : "");
    }
    int fail = 0;
    json_t *values = json_array();
    if (wait_to_kill_ms) {
        char ms[16];
        snprintf(ms, sizeof ms, "%u", wait_to_kill_ms);
        hd_push(values,
                reg_value("System", "ControlSet001\\Control", "WaitToKillServiceTimeout", "String",
                          ms, 0),
                &fail);
    }
    if (dump && *dump) {
        hd_push(values, reg_value("Software", WER_LOCAL_DUMPS, "DumpFolder", "String", dump, 0),
                &fail);
        hd_push(values,
                reg_value("Software", WER_LOCAL_DUMPS, "DumpType", "DWord", NULL, dump_type),
                &fail);
    }
    if (fail || !values) {
        json_decref(values);
        return hd_build_failed(err, "RegistryChanges");
    }
    if (json_array_size(values) == 0) {
        json_decref(values);
        return 0;
    }
    *out = json_pack("{s:o}", "AddValues", values);
    return *out ? 0 : hd_build_failed(err, "RegistryChanges");
}

int hd_container_common(const json_t *spec, const hcs_container_opts *o, const hcs_uvm_devices *uvm,
                        json_t *container, wc_err *err)
{
    int fail = 0;
    json_t *storage = json_object_get(container, "Storage");
    const char *host = hd_str(spec, "hostname");
    if (host && *host)
        hd_set(container, "GuestOs", json_pack("{s:s}", "HostName", host), &fail);
    if (add_processor(spec, o, container, &fail, err) < 0 ||
        add_memory_and_qos(spec, container, storage, &fail, err) < 0 ||
        add_networking(spec, o, container, &fail, err) < 0 ||
        add_pipes(spec, uvm, container, &fail, err) < 0 ||
        add_devices(spec, uvm, container, &fail, err) < 0)
        return -1;
    json_t *reg = NULL;
    if (hcs_doc_registry_changes(spec, o ? o->wait_to_kill_service_ms : 0, &reg, err) < 0)
        return -1;
    if (reg)
        hd_set(container, "RegistryChanges", reg, &fail);
    if (o && o->credential_guard)
        hd_set(container, "ContainerCredentialGuard", json_deep_copy(o->credential_guard), &fail);
    return fail ? hd_build_failed(err, "container document") : 0;
}

/* Checks the parts of the spec every Windows container needs. */
static int check_spec(const json_t *spec, wc_err *err)
{
    if (!json_is_object(spec))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "OCI spec: expected an object");
    json_t *win = hd_obj(spec, "windows");
    if (!win)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "OCI spec: the windows section is missing");
    json_t *lf = json_object_get(win, "layerFolders");
    if (json_array_size(lf) < 2)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "windows.layerFolders: need at least a base layer and a scratch folder");
    size_t i;
    json_t *l;
    json_array_foreach(lf, i, l)
    {
        if (!json_is_string(l) || !*json_string_value(l))
            return wc_err_set(err, WC_INVALID_ARGUMENT, "windows.layerFolders[%u]: expected a path",
                              (unsigned)i);
    }
    if (json_is_true(json_object_get(hd_obj(spec, "root"), "readonly")))
        return wc_err_set(
            err, WC_INVALID_ARGUMENT,
            "root.readonly: a read-only root is not supported for Windows containers");
    json_t *mounts = json_object_get(spec, "mounts");
    json_array_foreach(mounts, i, l)
    {
        const char *type = hd_str(l, "type");
        if (!hd_str(l, "source") || !*hd_str(l, "source") || !hd_str(l, "destination") ||
            !*hd_str(l, "destination"))
            return wc_err_set(err, WC_INVALID_ARGUMENT,
                              "mounts[%u]: a mount needs both source and destination", (unsigned)i);
        if (type && *type && strcmp(type, "bind") != 0)
            return wc_err_set(err, WC_INVALID_ARGUMENT,
                              "mounts[%u]: type \"%s\" is not supported for Windows containers",
                              (unsigned)i, type);
    }
    return 0;
}

int hd_check_layers(const json_t *spec, const hcs_container_opts *o, wc_err *err)
{
    if (check_spec(spec, err) != 0)
        return -1;
    size_t n = json_array_size(json_object_get(hd_obj(spec, "windows"), "layerFolders")) - 1;
    if (!o || !o->layer_ids || o->n_layer_ids != n)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "windows.layerFolders: %u read-only layers but %u layer ids given",
                          (unsigned)n, (unsigned)(o && o->layer_ids ? o->n_layer_ids : 0));
    for (size_t i = 0; i < n; i++)
        if (!o->layer_ids[i] || strlen(o->layer_ids[i]) != 36)
            return wc_err_set(err, WC_INVALID_ARGUMENT,
                              "layer id %u: expected a GUID (8-4-4-4-12 hex digits)", (unsigned)i);
    return 0;
}

int hd_mount_readonly(const json_t *mount)
{
    size_t k;
    json_t *opt;
    json_array_foreach(json_object_get(mount, "options"), k, opt)
    {
        if (json_is_string(opt) && hd_strcasecmp(json_string_value(opt), "ro") == 0)
            return 1;
    }
    return 0;
}

/* "\\?\Volume{GUID}" with an optional trailing backslash, as hcsshim accepts. */
static int is_volume_path(const char *p)
{
    static const char pre[] = "\\\\?\\Volume{";
    if (strncmp(p, pre, strlen(pre)) != 0)
        return 0;
    p += strlen(pre);
    static const int groups[] = {8, 4, 4, 4, 12};
    for (int g = 0; g < 5; g++) {
        for (int k = 0; k < groups[g]; k++, p++)
            if (!strchr("0123456789abcdefABCDEF", *p) || !*p)
                return 0;
        if (g < 4 && *p++ != '-')
            return 0;
    }
    return strcmp(p, "}") == 0 || strcmp(p, "}\\") == 0;
}

int hcs_doc_container(const json_t *spec, const hcs_container_opts *o, json_t **out, wc_err *err)
{
    *out = NULL;
    if (hd_check_layers(spec, o, err) != 0)
        return -1;
    const char *root = hd_str(hd_obj(spec, "root"), "path");
    if (!root || !is_volume_path(root))
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "root.path '%s' must be the volume path of the mounted scratch, "
                          "'\\\\?\\Volume{GUID}\\'",
                          root ? root : "");
    int fail = 0;
    json_t *container = json_object();
    json_t *storage = json_object();
    hd_set(container, "Storage", storage, &fail);
    json_t *layers = json_array();
    json_t *lf = json_object_get(hd_obj(spec, "windows"), "layerFolders");
    for (size_t i = 0; i + 1 < json_array_size(lf); i++)
        hd_push(layers,
                json_pack("{s:s,s:s}", "Id", o->layer_ids[i], "Path",
                          json_string_value(json_array_get(lf, i))),
                &fail);
    hd_set(storage, "Layers", layers, &fail);
    char path[1024];
    snprintf(path, sizeof path, "%s%s", root, root[strlen(root) - 1] == '\\' ? "" : "\\");
    hd_set_str(storage, "Path", path, &fail);

    /* Directory mounts map host folders straight into the silo. */
    json_t *dirs = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(spec, "mounts"), i, m)
    {
        const char *src = hd_str(m, "source");
        if (strncmp(src, PIPE_PREFIX, strlen(PIPE_PREFIX)) == 0)
            continue;
        json_t *d = json_object();
        hd_set_str(d, "HostPath", src, &fail);
        hd_set_str(d, "ContainerPath", hd_str(m, "destination"), &fail);
        hd_set_true(d, "ReadOnly", hd_mount_readonly(m), &fail);
        hd_push(dirs, d, &fail);
    }
    if (json_array_size(dirs))
        hd_set(container, "MappedDirectories", dirs, &fail);
    else
        json_decref(dirs);

    if (fail || hd_container_common(spec, o, NULL, container, err) != 0) {
        json_decref(container);
        return fail ? hd_build_failed(err, "container document") : -1;
    }
    json_t *doc = json_object();
    hd_set_str(doc, "Owner", o->owner ? o->owner : HCS_OWNER, &fail);
    hd_set(doc, "SchemaVersion", hd_schema_v21(), &fail);
    hd_set(doc, "ShouldTerminateOnLastHandleClosed", json_false(), &fail);
    hd_set(doc, "Container", container, &fail);
    if (fail) {
        json_decref(doc);
        return hd_build_failed(err, "container document");
    }
    *out = doc;
    return 0;
}

/* UpdateContainerResources for a running Windows container, as hcsshim's
 * updateWCOWResources (cmd/containerd-shim-runhcs-v1/task_hcs.go) asks HCS: the memory
 * limit in MB aligned up to an even number (hcsoci.NormalizeMemorySize) at
 * Container/Memory/SizeInMB, then the one CPU setting (isValidWindowsCPUResources allows a
 * single one of count, maximum, shares) as a Processor at Container/Processor, each an
 * Update ModifySettingRequest (resourcepaths/silo.go). */
int hcs_doc_container_update(const json_t *resources, unsigned host_cpus, json_t **out, wc_err *err)
{
    *out = NULL;
    json_t *cpu = hd_obj(resources, "cpu");
    uint64_t limit = 0, count = 0, maximum = 0, shares = 0;
    const char *w = "windows.resources.cpu";
    if (hd_member_u64(hd_obj(resources, "memory"), "limit", "windows.resources.memory", &limit,
                      err) < 0 ||
        hd_member_u64(cpu, "count", w, &count, err) < 0 ||
        hd_member_u64(cpu, "maximum", w, &maximum, err) < 0 ||
        hd_member_u64(cpu, "shares", w, &shares, err) < 0)
        return -1;
    int set = (count > 0) + (maximum > 0) + (shares > 0);
    if (set > 1)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "windows.resources.cpu: count (%llu), maximum (%llu) and shares (%llu) "
                          "are mutually exclusive on Windows; set only one",
                          (unsigned long long)count, (unsigned long long)maximum,
                          (unsigned long long)shares);
    if (maximum > 10000 || shares > 10000)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "windows.resources.cpu: maximum and shares range over 1..10000, got %llu",
                          (unsigned long long)(maximum ? maximum : shares));
    uint64_t mb = limit / 1024 / 1024;
    if (limit && !mb)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "windows.resources.memory.limit: %llu bytes is below 1 MiB",
                          (unsigned long long)limit);
    if (!mb && !set)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "UpdateContainerResources: neither a memory limit nor a CPU setting; "
                          "nothing a Windows container can update");
    int fail = 0;
    json_t *reqs = json_array();
    if (mb) {
        mb = (mb + 1) & ~(uint64_t)1;
        hd_push(reqs,
                json_pack("{s:s,s:s,s:I}", "ResourcePath", "Container/Memory/SizeInMB",
                          "RequestType", "Update", "Settings", (json_int_t)mb),
                &fail);
    }
    if (set) {
        if (host_cpus && count > host_cpus)
            count = host_cpus; /* hcsoci.NormalizeProcessorCount */
        json_t *p = json_object();
        hd_set_uint(p, "Count", count, &fail);
        hd_set_uint(p, "Maximum", maximum, &fail);
        hd_set_uint(p, "Weight", shares, &fail);
        hd_push(reqs,
                json_pack("{s:s,s:s,s:o}", "ResourcePath", "Container/Processor", "RequestType",
                          "Update", "Settings", p),
                &fail);
    }
    if (fail || !reqs) {
        json_decref(reqs);
        return hd_build_failed(err, "the update document");
    }
    *out = reqs;
    return 0;
}
