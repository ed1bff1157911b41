/* Named crash points for the fault-injection tests. WINCRI_CRASH_AT=<name> in the
 * environment makes the process kill itself (SIGKILL; TerminateProcess on Windows) the first
 * time it passes the point of that name; "<name>#N" the Nth time. Unset, a point costs one
 * load and a branch. Points sit between a mutating RPC's side effects, so the tests can
 * prove that recovery rolls every half-done operation forward or back. */
#ifndef WINCRI_COMMON_CRASH_H
#define WINCRI_COMMON_CRASH_H

/* Reads WINCRI_CRASH_AT once; call before any thread starts. */
void wc_crash_init(void);
void wc_crash_point(const char *name);

#define WC_CRASH_POINT(name) wc_crash_point(name)

#endif
