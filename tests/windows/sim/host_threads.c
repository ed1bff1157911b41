/* winsim host: the threads of a process, read with one NtQuerySystemInformation call.
 *
 * Why not CreateToolhelp32Snapshot: it lists every process and thread of the prefix and
 * builds a file mapping of the list, several wineserver requests each time, and the host
 * called it every 500 ms per running process while holding its lock. Twice a full suite
 * hung that way (after test_port_forward_reaches_the_pod_ip): wineserver at 100 % CPU
 * serving snapshots, one waiter thread always inside one with the lock held, and every
 * request of wincrid.exe queued behind the lock. Now one request per look-up, made outside
 * the lock by the process waiters (host_hcs.c proc_wait), and a failing call gives up after
 * a few tries instead of retrying for ever. */
#include "host.h"

#include <stdlib.h>
#include <winternl.h>

#ifndef STATUS_INFO_LENGTH_MISMATCH
#define STATUS_INFO_LENGTH_MISMATCH ((NTSTATUS)0xC0000004L)
#endif
#define TRIES 8

_Static_assert(sizeof(SYSTEM_PROCESS_INFORMATION) == 0x100,
               "the thread array follows the process entry at 0x100 on x64");

static void each_in(const char *buf, DWORD pid, void (*fn)(DWORD tid, void *ctx), void *ctx)
{
    for (const SYSTEM_PROCESS_INFORMATION *p = (const void *)buf;;
         p = (const void *)((const char *)p + p->NextEntryOffset)) {
        if ((DWORD)(ULONG_PTR)p->UniqueProcessId == pid) {
            const SYSTEM_THREAD_INFORMATION *t = (const void *)(p + 1);
            for (ULONG i = 0; i < p->NumberOfThreads; i++)
                fn((DWORD)(ULONG_PTR)t[i].ClientId.UniqueThread, ctx);
        }
        if (!p->NextEntryOffset)
            return;
    }
}

int host_each_thread(DWORD pid, void (*fn)(DWORD tid, void *ctx), void *ctx)
{
    ULONG size = 1 << 16;
    NTSTATUS st = 0;
    for (int i = 0; i < TRIES; i++) {
        char *buf = malloc(size);
        ULONG need = 0;
        st = buf ? NtQuerySystemInformation(SystemProcessInformation, buf, size, &need)
                 : (NTSTATUS)0xC0000017L; /* no memory */
        if (st == 0)
            each_in(buf, pid, fn, ctx);
        free(buf);
        if (st != STATUS_INFO_LENGTH_MISMATCH)
            break;
        size = need > size ? need + 65536 : size * 2;
    }
    if (st != 0)
        host_log("NtQuerySystemInformation(SystemProcessInformation) failed: 0x%08lx",
                 (unsigned long)st);
    return st == 0 ? 0 : -1;
}
