/* Pod statistics in the platform's CRI message: LinuxPodSandboxStats. */
#include "cri/runtime_stats_platform.h"

void cri_pod_stats_platform(Runtime__V1__PodSandboxStats *m, Runtime__V1__LinuxPodSandboxStats *l)
{
    m->linux = l;
}
