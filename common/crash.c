#include "common/crash.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

void wc_crash_die(void); /* crash_linux.c / crash_win32.c: no cleanup, no flush but ours */

static char target[128];
static long target_hit = 1;
static atomic_long hits;
static int armed;

void wc_crash_init(void)
{
    const char *v = getenv("WINCRI_CRASH_AT");
    if (!v || !*v || strlen(v) >= sizeof target)
        return;
    snprintf(target, sizeof target, "%s", v);
    char *hash = strchr(target, '#');
    if (hash) {
        *hash = '\0';
        target_hit = strtol(hash + 1, NULL, 10);
        if (target_hit < 1)
            target_hit = 1;
    }
    armed = 1;
    wc_warn("crash", "fault injection armed", "point=%s hit=%ld", target, target_hit);
}

void wc_crash_point(const char *name)
{
    if (!armed || strcmp(name, target) != 0)
        return;
    if (atomic_fetch_add(&hits, 1) + 1 != target_hit)
        return;
    wc_warn("crash", "crash point reached", "point=%s", name);
    fflush(stderr);
    wc_crash_die();
}
