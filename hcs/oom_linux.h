/* Linux only, beside runtime.h: whether the OOM killer ended a process of a container. */
#ifndef WINCRI_HCS_OOM_LINUX_H
#define WINCRI_HCS_OOM_LINUX_H

#include "hcs/runtime.h"

/* 1 when the container's memory cgroup counts an OOM kill, for an exit the stdio keeper
 * reported (it does not know the cgroup; the reaper's report reads the same count). */
int hcs_oom_killed(hcs_runtime *rt, const char *id);

#endif
