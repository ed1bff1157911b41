/* linux.namespaces and the hostname, from the CRI NamespaceOption and the namespaces the
 * pod pinned. The UTS namespace follows the network mode, as CRI has no UTS option. */
#include <string.h>

#include "podsandbox/ocispec_int_linux.h"

pod_ns_mode pod_ns_network(const pod_build *b)
{
    return b->ns ? b->ns->network : POD_NS_POD;
}

pod_ns_mode pod_ns_ipc(const pod_build *b)
{
    return b->ns ? b->ns->ipc : POD_NS_POD;
}

static void add_ns(json_t *list, const char *type, const char *path)
{
    json_t *ns = json_pack("{s:s}", "type", type);
    if (path && path[0])
        json_object_set_new(ns, "path", json_string(path));
    json_array_append_new(list, ns);
}

/* Namespaces a pod can share: POD joins the pinned one (a fresh one when the pod pinned
 * none), CONTAINER gets its own, NODE stays in the host's. */
static int shared_ns(json_t *list, const char *type, pod_ns_mode mode, const char *pod_path,
                     wc_err *err)
{
    switch (mode) {
    case POD_NS_POD:
        add_ns(list, type, pod_path);
        return 0;
    case POD_NS_CONTAINER:
        add_ns(list, type, NULL);
        return 0;
    case POD_NS_NODE:
        return 0;
    default:
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "linux.security_context.namespace_options: mode %d is not valid for "
                          "the %s namespace",
                          (int)mode, type);
    }
}

/* Without namespace options kubelet's default is a PID namespace per container. */
static int pid_ns(const pod_build *b, json_t *list, wc_err *err)
{
    pod_ns_mode mode = b->ns ? b->ns->pid : POD_NS_CONTAINER;
    switch (mode) {
    case POD_NS_POD:
    case POD_NS_TARGET:
        /* The pod model resolves the namespace to join (holder or target container). */
        if (!b->in->pid_ns_path || !b->in->pid_ns_path[0])
            return wc_err_set(err, WC_FAILED_PRECONDITION,
                              "linux.security_context.namespace_options.pid: no PID namespace "
                              "to join for mode %s",
                              mode == POD_NS_POD ? "POD" : "TARGET");
        add_ns(list, "pid", b->in->pid_ns_path);
        return 0;
    case POD_NS_NODE:
        return 0;
    default:
        add_ns(list, "pid", NULL);
        return 0;
    }
}

static int user_ns(const pod_build *b, wc_err *err)
{
    if (!b->ns || !b->ns->userns_set || b->ns->userns_mode == POD_NS_NODE)
        return 0;
    return wc_err_set(err, WC_UNIMPLEMENTED,
                      "linux.security_context.namespace_options.userns_options: user "
                      "namespaces are not supported");
}

int pod_oci_namespaces(pod_build *b, json_t *spec, json_t *linux_obj, wc_err *err)
{
    const pod_spec_input *in = b->in;
    json_t *list = json_array();
    json_object_set_new(linux_obj, "namespaces", list);
    pod_ns_mode net = pod_ns_network(b);
    if (pid_ns(b, list, err) < 0 || user_ns(b, err) < 0 ||
        shared_ns(list, "network", net, in->netns_path, err) < 0 ||
        shared_ns(list, "ipc", pod_ns_ipc(b), in->ipc_ns_path, err) < 0 ||
        shared_ns(list, "uts", net, in->uts_ns_path, err) < 0)
        return -1;
    add_ns(list, "mount", NULL);
    /* containerd gives a private cgroup namespace only on cgroup v2 hosts. */
    if (b->host->cgroupns && !b->privileged)
        add_ns(list, "cgroup", NULL);
    const char *hn = in->sandbox ? in->sandbox->hostname : NULL;
    if (net != POD_NS_NODE && hn && hn[0])
        json_object_set_new(spec, "hostname", json_string(hn));
    return 0;
}
