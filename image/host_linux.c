/* The Linux host's platform: os linux, the machine's architecture and amd64 level. */
#include "image/img_internal.h"

#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

static const char *amd64_level(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2") &&
        __builtin_cpu_supports("fma"))
        return "v3";
    if (__builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("popcnt"))
        return "v2";
#endif
    return "v1";
}

void img_host_detect(img_host *out)
{
    struct utsname u;
    memset(out, 0, sizeof *out);
    snprintf(out->os, sizeof out->os, "linux");
    const char *arch = "amd64";
    if (uname(&u) == 0) {
        if (strcmp(u.machine, "aarch64") == 0)
            arch = "arm64";
        else if (strncmp(u.machine, "arm", 3) == 0)
            arch = "arm";
        else if (strcmp(u.machine, "s390x") == 0)
            arch = "s390x";
        else if (strcmp(u.machine, "ppc64le") == 0)
            arch = "ppc64le";
    }
    snprintf(out->arch, sizeof out->arch, "%s", arch);
    if (strcmp(arch, "amd64") == 0)
        snprintf(out->variant, sizeof out->variant, "%s", amd64_level());
    else if (strcmp(arch, "arm64") == 0)
        snprintf(out->variant, sizeof out->variant, "v8");
}
