/* ExecSync: a command in the running container, its output collected and capped. */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "image/image.h"
#include "podsandbox/model.h"
#include "podsandbox/platform.h"

/* ExecSync's stdout and stderr together, with their framing, must fit one 16 MiB gRPC
 * response (kubelet's limit); 1 KiB is left for the framing and the truncation note. */
#define EXEC_RESPONSE_MAX (16 * 1024 * 1024)
#define EXEC_OUTPUT_MAX (EXEC_RESPONSE_MAX - 1024)
#define EXEC_TRUNCATED_NOTE "\n[wincri: ExecSync output truncated to 16 MiB]\n"

/* Cuts stdout, then stderr, to EXEC_OUTPUT_MAX together, and says so at the end of stderr. */
static void cap_exec_output(hcs_exec_result *r)
{
    if (!r->truncated && r->out_len + r->err_len <= EXEC_OUTPUT_MAX)
        return;
    if (r->out_len > EXEC_OUTPUT_MAX)
        r->out_len = EXEC_OUTPUT_MAX;
    if (r->err_len > EXEC_OUTPUT_MAX - r->out_len)
        r->err_len = EXEC_OUTPUT_MAX - r->out_len;
    size_t note = sizeof EXEC_TRUNCATED_NOTE - 1;
    char *err = wc_xrealloc(r->err, r->err_len + note + 1);
    memcpy(err + r->err_len, EXEC_TRUNCATED_NOTE, note + 1);
    r->err = err;
    r->err_len += note;
}

int pod_container_exec_sync(pod_manager *pm, const char *id, const char *const *cmd, size_t n_cmd,
                            int64_t timeout_s, pod_exec_result *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    if (n_cmd == 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "ExecSync: cmd must not be empty");
    pod_container *c = pod_container_find(pm, id, err);
    if (!c)
        return -1;
    int rc = -1;
    hcs_runtime *rt = NULL;
    if (c->state != POD_CONTAINER_RUNNING) {
        wc_err_set(err, WC_FAILED_PRECONDITION, "ExecSync: container %s is not running", c->id);
    } else if ((rt = pod_runtime_of_container(pm, c, err))) {
        json_t *spec = json_loads(c->spec_json, 0, NULL);
        json_t *proc = pod_platform_exec_process(spec, cmd, n_cmd, 0);
        hcs_exec_result r = {0};
        rc = hcs_exec_sync(rt, c->id, proc, timeout_s * 1000, EXEC_OUTPUT_MAX, &r, err);
        if (rc == 0 && r.timed_out)
            rc = wc_err_set(err, WC_DEADLINE_EXCEEDED,
                            "ExecSync in container %.12s: command timed out after %llds", c->id,
                            (long long)timeout_s);
        if (rc == 0) {
            cap_exec_output(&r);
            out->out = r.out;
            out->out_len = r.out_len;
            out->err = r.err;
            out->err_len = r.err_len;
            out->exit_code = r.exit_code;
            r.out = r.err = NULL;
        }
        hcs_exec_result_clear(&r);
        json_decref(proc);
        json_decref(spec);
    }
    pod_container_unref(pm, c);
    return rc;
}

void pod_exec_result_clear(pod_exec_result *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}
