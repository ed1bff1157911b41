/* What the Linux backend has, for recovery after a restart: the containers it knows (bundle
 * links and the runtime's own list), and a wait for runtime calls a killed wincrid left
 * running, so recovery does not race a `runc create` that is still finishing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "hcs/runtime_linux.h"

/* How long recovery waits for the previous incarnation's runtime calls. */
#define QUIESCE_WAIT_MS 10000

typedef struct idset {
    char **v;
    size_t n, cap;
} idset;

static void idset_add(idset *s, const char *id, size_t len)
{
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->v[i]) == len && memcmp(s->v[i], id, len) == 0)
            return;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = wc_xrealloc(s->v, (s->cap + 1) * sizeof *s->v);
    }
    s->v[s->n] = wc_xstrndup(id, len);
    s->v[++s->n] = NULL;
}

static void idset_free(idset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

static int add_links(hcs_runtime *rt, idset *s)
{
    DIR *d = opendir(rt->links);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            idset_add(s, e->d_name, strlen(e->d_name));
    closedir(d);
    return 0;
}

/* `runc list -q`: one id per line. */
static int add_runtime_list(hcs_runtime *rt, idset *s, wc_err *err)
{
    const char *args[] = {"list", "-q", NULL};
    const char **argv = hcs_runc_argv(rt, NULL, args);
    hcs_run_opts o;
    hcs_run_opts_init(&o);
    hcs_run_result res;
    int rc = hcs_run(argv, &o, &res, err);
    free(argv);
    if (rc < 0)
        return wc_err_prefix(err, "listing the runtime's containers");
    if (res.status != 0)
        rc = wc_err_set(err, WC_INTERNAL, "%s list exited %d", rt->binary, res.status);
    for (size_t at = 0; rc == 0 && at < res.out_len;) {
        const char *line = res.out + at;
        const char *nl = memchr(line, '\n', res.out_len - at);
        size_t len = nl ? (size_t)(nl - line) : res.out_len - at;
        if (len)
            idset_add(s, line, len);
        at += len + 1;
    }
    hcs_run_result_clear(&res);
    return rc;
}

int hcs_list(hcs_runtime *rt, char ***ids, size_t *n, wc_err *err)
{
    idset s = {0};
    if (add_links(rt, &s) < 0) {
        idset_free(&s);
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot read %s", rt->links);
    }
    if (add_runtime_list(rt, &s, err) < 0) {
        idset_free(&s);
        return -1;
    }
    *ids = s.v ? s.v : wc_xcalloc(1, sizeof **ids);
    *n = s.n;
    return 0;
}

/* 1 when pid's command line has "--root <root>": a runtime call on our containers. */
static int runs_on_root(int pid, const char *root)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    long n = wc_read_head(path, buf, sizeof buf);
    if (n < 0)
        return 0;
    for (const char *a = buf; a < buf + n; a += strlen(a) + 1)
        if (strcmp(a, "--root") == 0 && a + strlen(a) + 1 < buf + n &&
            strcmp(a + strlen(a) + 1, root) == 0)
            return 1;
    return 0;
}

static int count_calls(const char *root)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    int self = getpid(), count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int pid = atoi(e->d_name);
        if (pid > 0 && pid != self && runs_on_root(pid, root))
            count++;
    }
    closedir(d);
    return count;
}

void hcs_quiesce(hcs_runtime *rt)
{
    int64_t until = wc_clock_monotonic_ns() + (int64_t)QUIESCE_WAIT_MS * 1000000;
    int left = count_calls(rt->root);
    if (!left)
        return;
    wc_info("hcs", "waiting for runtime calls of the previous run", "calls=%d", left);
    while (left && wc_clock_monotonic_ns() < until) {
        wc_sleep_ms(50);
        left = count_calls(rt->root);
    }
    if (left)
        wc_warn("hcs", "runtime calls of the previous run still going", "calls=%d", left);
}
