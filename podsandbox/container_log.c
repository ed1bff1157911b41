/* ReopenContainerLog: the container's log is written to a new file at its path (kubelet
 * rotated it). */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/crash.h"
#include "common/fs.h"
#include "common/log.h"
#include "image/image.h"
#include "podsandbox/model.h"
#include "podsandbox/platform.h"

int pod_container_reopen_log(pod_manager *pm, const char *id, wc_err *err)
{
    pod_container *c = pod_container_find(pm, id, err);
    if (!c)
        return -1;
    pthread_mutex_lock(&c->op);
    int rc;
    if (c->state != POD_CONTAINER_RUNNING || !c->stdio)
        rc = wc_err_set(err, WC_FAILED_PRECONDITION,
                        "ReopenContainerLog: container %s is not running", c->id);
    else
        rc = pod_platform_stdio_reopen(pm, c, err);
    if (rc == 0)
        WC_CRASH_POINT("container.reopen.done");
    pthread_mutex_unlock(&c->op);
    pod_container_unref(pm, c);
    return rc;
}
