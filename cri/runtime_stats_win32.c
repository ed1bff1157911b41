/* Pod statistics in the platform's CRI message: WindowsPodSandboxStats, with its Windows
 * CPU, memory (commit as commit_memory_bytes), network, process and per-container
 * messages, filled from the platform-neutral figures runtime_stats.c gathered. */
#include "cri/runtime_stats_platform.h"

#include <stdlib.h>

#include "common/xalloc.h"
#include "cri/pbutil.h"

static Runtime__V1__UInt64Value *copy_u64(const Runtime__V1__UInt64Value *v)
{
    return v ? cri_copy(v) : NULL;
}

static Runtime__V1__WindowsCpuUsage *win_cpu(const Runtime__V1__CpuUsage *c)
{
    if (!c)
        return NULL;
    Runtime__V1__WindowsCpuUsage *w =
        cri_new(Runtime__V1__WindowsCpuUsage, runtime__v1__windows_cpu_usage);
    w->timestamp = c->timestamp;
    w->usage_core_nano_seconds = copy_u64(c->usage_core_nano_seconds);
    w->usage_nano_cores = copy_u64(c->usage_nano_cores);
    return w;
}

static Runtime__V1__WindowsMemoryUsage *win_memory(const Runtime__V1__MemoryUsage *m)
{
    if (!m)
        return NULL;
    Runtime__V1__WindowsMemoryUsage *w =
        cri_new(Runtime__V1__WindowsMemoryUsage, runtime__v1__windows_memory_usage);
    w->timestamp = m->timestamp;
    w->working_set_bytes = copy_u64(m->working_set_bytes);
    w->available_bytes = copy_u64(m->available_bytes);
    w->page_faults = copy_u64(m->page_faults);
    w->commit_memory_bytes = copy_u64(m->usage_bytes);
    return w;
}

static Runtime__V1__WindowsNetworkInterfaceUsage *
win_iface(const Runtime__V1__NetworkInterfaceUsage *i)
{
    Runtime__V1__WindowsNetworkInterfaceUsage *w = cri_new(
        Runtime__V1__WindowsNetworkInterfaceUsage, runtime__v1__windows_network_interface_usage);
    w->name = cri_strdup(i->name);
    w->rx_bytes = copy_u64(i->rx_bytes);
    w->tx_bytes = copy_u64(i->tx_bytes);
    return w;
}

static Runtime__V1__WindowsNetworkUsage *win_network(const Runtime__V1__NetworkUsage *n)
{
    if (!n)
        return NULL;
    Runtime__V1__WindowsNetworkUsage *w =
        cri_new(Runtime__V1__WindowsNetworkUsage, runtime__v1__windows_network_usage);
    w->timestamp = n->timestamp;
    if (n->default_interface)
        w->default_interface = win_iface(n->default_interface);
    w->interfaces = wc_xcalloc(n->n_interfaces + 1, sizeof *w->interfaces);
    for (size_t i = 0; i < n->n_interfaces; i++)
        w->interfaces[w->n_interfaces++] = win_iface(n->interfaces[i]);
    return w;
}

static Runtime__V1__WindowsContainerStats *win_container(const Runtime__V1__ContainerStats *c)
{
    Runtime__V1__WindowsContainerStats *w =
        cri_new(Runtime__V1__WindowsContainerStats, runtime__v1__windows_container_stats);
    w->attributes = c->attributes ? cri_copy(c->attributes) : NULL;
    w->cpu = win_cpu(c->cpu);
    w->memory = win_memory(c->memory);
    if (c->writable_layer) {
        Runtime__V1__WindowsFilesystemUsage *f =
            cri_new(Runtime__V1__WindowsFilesystemUsage, runtime__v1__windows_filesystem_usage);
        f->timestamp = c->writable_layer->timestamp;
        f->fs_id = c->writable_layer->fs_id ? cri_copy(c->writable_layer->fs_id) : NULL;
        f->used_bytes = copy_u64(c->writable_layer->used_bytes);
        w->writable_layer = f;
    }
    return w;
}

void cri_pod_stats_platform(Runtime__V1__PodSandboxStats *m, Runtime__V1__LinuxPodSandboxStats *l)
{
    Runtime__V1__WindowsPodSandboxStats *w =
        cri_new(Runtime__V1__WindowsPodSandboxStats, runtime__v1__windows_pod_sandbox_stats);
    w->cpu = win_cpu(l->cpu);
    w->memory = win_memory(l->memory);
    w->network = win_network(l->network);
    if (l->process) {
        w->process = cri_new(Runtime__V1__WindowsProcessUsage, runtime__v1__windows_process_usage);
        w->process->timestamp = l->process->timestamp;
        w->process->process_count = copy_u64(l->process->process_count);
    }
    w->containers = wc_xcalloc(l->n_containers + 1, sizeof *w->containers);
    for (size_t i = 0; i < l->n_containers; i++)
        w->containers[w->n_containers++] = win_container(l->containers[i]);
    protobuf_c_message_free_unpacked(&l->base, NULL);
    m->windows = w;
}
