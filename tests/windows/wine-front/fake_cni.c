/* A stand-in CNI plugin for wine_cni.c: prints what it was given (command, netns, CNI_PATH,
 * the size of its stdin) as JSON on stdout and a line on stderr. Started as "slow.exe" it
 * sleeps instead, to exercise the runner's deadline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

int main(int argc, char **argv)
{
    (void)argc;
    if (strstr(argv[0], "slow")) {
        Sleep(20000);
        return 0;
    }
    size_t n = 0;
    char buf[4096];
    size_t r;
    while ((r = fread(buf, 1, sizeof buf, stdin)) > 0)
        n += r;
    const char *cmd = getenv("CNI_COMMAND"), *ns = getenv("CNI_NETNS"), *path = getenv("CNI_PATH");
    const char *leak = getenv("CNI_STALE");
    printf("{\"cmd\":\"%s\",\"netns\":\"%s\",\"stdin\":%u,\"path_set\":%d,\"stale\":%d}\n",
           cmd ? cmd : "", ns ? ns : "", (unsigned)n, path != NULL, leak != NULL);
    fprintf(stderr, "fake plugin ran\n");
    return getenv("FAKE_EXIT") ? atoi(getenv("FAKE_EXIT")) : 3;
}
