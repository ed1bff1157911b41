/* Watching containers that outlived a wincrid restart. They are no longer our children, so
 * waitpid cannot collect their exit status; the reaper thread watches them like any other
 * container (a pidfd in its poll set) and takes the status the kernel's process connector
 * reported (255 only if the connector is unavailable). Created containers can be adopted too (their
 * init is waiting for `runc start`); hcs_start adopts one it does not know. The OOM counter of
 * their memory cgroup is still checked. */
#include "hcs/runtime_linux.h"

#include "common/log.h"

int hcs_adopt(hcs_runtime *rt, const char *id, wc_err *err)
{
    hcs_state st;
    if (hcs_state_of(rt, id, &st, err) < 0)
        return -1;
    if (st.status == HCS_MISSING)
        return wc_err_set(err, WC_NOT_FOUND, "adopt container %s: not found", id);
    if (st.status == HCS_STOPPED || st.pid <= 0)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "adopt container %s: not running", id);
    hcs_cgroup cg;
    wc_err cgerr = {0};
    if (hcs_cgroup_of_pid(st.pid, &cg, &cgerr) < 0)
        wc_warn("hcs", "no cgroup for container", "container=%s err=\"%s\"", id, cgerr.msg);
    /* Watching the same pid twice is a no-op, so adopting again is harmless. */
    int rc = hcs_reaper_watch(rt->reaper, st.pid, id, NULL, cg.memory, err);
    if (rc == 0) {
        hcs_ctr_remember(rt, id, &cg);
        wc_info("hcs", "container adopted", "container=%s pid=%d", id, st.pid);
    }
    hcs_cgroup_clear(&cg);
    return rc;
}
