#include <signal.h>
#include <unistd.h>

void wc_crash_die(void);

void wc_crash_die(void)
{
    kill(getpid(), SIGKILL);
    _exit(137); /* not reached */
}
