/* The real host's facts for the spec builder: the only part that reads the file system. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "podsandbox/ocispec.h"

static int stat_device(void *ctx, const char *path, pod_spec_device *out)
{
    struct stat st;
    (void)ctx;
    if (stat(path, &st) != 0)
        return -1;
    if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) {
        errno = ENODEV;
        return -1;
    }
    out->type = S_ISCHR(st.st_mode) ? 'c' : 'b';
    out->major = major(st.st_rdev);
    out->minor = minor(st.st_rdev);
    out->mode = st.st_mode & 07777;
    return 0;
}

/* The effective capability mask from /proc/self/status ("CapEff:\t000001ff..."). */
static uint64_t own_caps(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    uint64_t caps = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "CapEff:", 7) == 0) {
            caps = strtoull(line + 7, NULL, 16);
            break;
        }
    }
    fclose(f);
    return caps;
}

static int own_oom_score_adj(void)
{
    FILE *f = fopen("/proc/self/oom_score_adj", "r");
    int v = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%d", &v) != 1)
        v = 0;
    fclose(f);
    return v;
}

void pod_spec_host_default(pod_spec_host *host)
{
    struct rlimit rl;
    memset(host, 0, sizeof *host);
    host->device = stat_device;
    host->caps = own_caps();
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY)
        host->nofile_max = rl.rlim_max;
    host->oom_score_adj_min = own_oom_score_adj();
    host->swap_controller = access("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", F_OK) == 0;
    /* cgroup v2 only: the unified hierarchy sits at the top with its controllers list. */
    host->cgroupns = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
}
