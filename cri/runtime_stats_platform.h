/* Where pod statistics go in PodSandboxStats: `linux` on Linux, `windows` on Windows
 * (kubelet on a Windows node reads PodSandboxStats.windows). */
#ifndef WINCRI_CRI_RUNTIME_STATS_PLATFORM_H
#define WINCRI_CRI_RUNTIME_STATS_PLATFORM_H

#include "api.pb-c.h"

/* Takes l (built the same way on both platforms) and puts its content into m. */
void cri_pod_stats_platform(Runtime__V1__PodSandboxStats *m, Runtime__V1__LinuxPodSandboxStats *l);

#endif
