/* winsim workload: the program in the test image (C:\app\ctr.exe). Commands are separated
 * by a ";" argument and run in order:
 *   echo WORDS..     print the words to stdout          err WORDS..  ... to stderr
 *   exit N           exit with N                        sleep MS
 *   log N MS [TAG]   N lines "TAG-i" every MS ms        cat          stdin to stdout, then "eof"
 *   env NAME         print %NAME%                       pwd          print the working dir
 *   burn MS          spin the CPU for MS ms             tty          print console or pipe
 *   run              print "running pid=N", wait for a console event, print it, exit 100+event
 *   stubborn         like run, but ignore console events (only a kill ends it)
 *   linger MS        like run, but take MS ms to exit after the event (print "lingered")
 *   listen PORT      TCP echo server on PORT (0.0.0.0), print "listening PORT"; runs until killed
 *   spawn            start "ctr.exe run" as a child and print its pid
 *   type PATH        print the file's first line, or "missing PATH"
 *   write PATH WORD  write WORD to the file
 *   whoami           print "user DOMAIN\NAME sid S-1-..." of the process token
 *   pid              print "pid N" (this process's id)
 *   cpus             print "cpus N" (GetActiveProcessorCount of all groups)
 * and, to try the test host's stand-ins of what wine lacks (winegaps.c; they patch this
 * program's imports once computecore.dll is loaded, as they do wincrid's):
 *   logon USER DOMAIN TYPE [PROVIDER]   LogonUserW, no password: "logon ok" or "logon error E"
 *   jobcpu FLAGS VALUE  JobObjectCpuRateControlInformation on this process's job object
 *                       "ctrjob-<pid>", then queried: "jobcpu ok F V" or "jobcpu error E"
 *   symlink LINK TARGET FLAGS           CreateSymbolicLinkW: "symlink ok" or "symlink error E"
 *   long N           print one line of N 'x' characters */
#include <winsock2.h>
#include <windows.h>

#include <sddl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile LONG got_event = -1;
static int ignore_events;
static DWORD linger_ms;

static BOOL WINAPI on_ctrl(DWORD ev)
{
    if (ignore_events) {
        printf("ignored event %lu\n", (unsigned long)ev);
        fflush(stdout);
        return TRUE;
    }
    InterlockedExchange(&got_event, (LONG)ev);
    return TRUE;
}

static void wait_event(void)
{
    printf("running pid=%lu\n", (unsigned long)GetCurrentProcessId());
    fflush(stdout);
    for (;;) {
        if (got_event >= 0) {
            printf("got event %ld\n", got_event);
            fflush(stdout);
            if (linger_ms) {
                Sleep(linger_ms);
                printf("lingered\n");
                fflush(stdout);
            }
            ExitProcess(100 + (UINT)got_event);
        }
        Sleep(50);
    }
}

static DWORD WINAPI echo_conn(void *arg)
{
    SOCKET c = (SOCKET)(ULONG_PTR)arg;
    char buf[4096];
    int n;
    while ((n = recv(c, buf, sizeof buf, 0)) > 0)
        send(c, buf, n, 0);
    closesocket(c);
    return 0;
}

static void listen_on(int port)
{
    WSADATA wsa;
    WSAStartup(MAKEWORD(2, 2), &wsa);
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    BOOL yes = TRUE;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, (char *)&yes, sizeof yes);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((u_short)port)};
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 8) != 0) {
        printf("listen %d failed %d\n", port, WSAGetLastError());
        fflush(stdout);
        ExitProcess(2);
    }
    printf("listening %d\n", port);
    fflush(stdout);
    for (;;) {
        SOCKET c = accept(s, NULL, NULL);
        if (c == INVALID_SOCKET)
            continue;
        HANDLE t = CreateThread(NULL, 0, echo_conn, (void *)(ULONG_PTR)c, 0, NULL);
        if (t)
            CloseHandle(t);
    }
}

/* The stand-ins of winegaps.c, installed by loading computecore.dll (WINSIM_WINE_* set). */
static void load_standins(void)
{
    static HMODULE m;
    if (!m)
        m = LoadLibraryA("computecore.dll");
}

static void try_logon(int argc, char **argv)
{
    wchar_t user[128], domain[128];
    MultiByteToWideChar(CP_UTF8, 0, argv[1], -1, user, 128);
    MultiByteToWideChar(CP_UTF8, 0, argv[2], -1, domain, 128);
    HANDLE tok = NULL;
    load_standins();
    if (LogonUserW(user, domain, NULL, (DWORD)atoi(argv[3]), argc > 4 ? (DWORD)atoi(argv[4]) : 0,
                   &tok)) {
        printf("logon ok\n");
        CloseHandle(tok);
    } else {
        printf("logon error %lu\n", (unsigned long)GetLastError());
    }
}

static void try_jobcpu(char **argv)
{
    static HANDLE job;
    char name[64];
    snprintf(name, sizeof name, "ctrjob-%lu", (unsigned long)GetCurrentProcessId());
    load_standins();
    if (!job)
        job = CreateJobObjectA(NULL, name);
    JOBOBJECT_CPU_RATE_CONTROL_INFORMATION r = {.ControlFlags = strtoul(argv[1], NULL, 0)};
    r.CpuRate = strtoul(argv[2], NULL, 0);
    if (!SetInformationJobObject(job, JobObjectCpuRateControlInformation, &r, sizeof r)) {
        printf("jobcpu error %lu\n", (unsigned long)GetLastError());
        return;
    }
    memset(&r, 0xff, sizeof r);
    if (QueryInformationJobObject(job, JobObjectCpuRateControlInformation, &r, sizeof r, NULL))
        printf("jobcpu ok %lu %lu\n", (unsigned long)r.ControlFlags, (unsigned long)r.CpuRate);
    else
        printf("jobcpu error %lu (query)\n", (unsigned long)GetLastError());
}

static void try_symlink(char **argv)
{
    wchar_t link[MAX_PATH], target[MAX_PATH];
    MultiByteToWideChar(CP_UTF8, 0, argv[1], -1, link, MAX_PATH);
    MultiByteToWideChar(CP_UTF8, 0, argv[2], -1, target, MAX_PATH);
    load_standins();
    if (CreateSymbolicLinkW(link, target, strtoul(argv[3], NULL, 0)))
        printf("symlink ok\n");
    else
        printf("symlink error %lu\n", (unsigned long)GetLastError());
}

static int run(int argc, char **argv)
{
    const char *cmd = argv[0];
    if (!strcmp(cmd, "echo") || !strcmp(cmd, "err")) {
        FILE *f = !strcmp(cmd, "echo") ? stdout : stderr;
        for (int i = 1; i < argc; i++)
            fprintf(f, "%s%s", i > 1 ? " " : "", argv[i]);
        fputc('\n', f);
        fflush(f);
    } else if (!strcmp(cmd, "exit") && argc > 1) {
        fflush(stdout);
        ExitProcess((UINT)atoi(argv[1]));
    } else if (!strcmp(cmd, "sleep") && argc > 1) {
        Sleep((DWORD)atoi(argv[1]));
    } else if (!strcmp(cmd, "log") && argc > 2) {
        int n = atoi(argv[1]), ms = atoi(argv[2]);
        const char *tag = argc > 3 ? argv[3] : "line";
        for (int i = 0; i < n; i++) {
            printf("%s-%d\n", tag, i);
            fflush(stdout);
            Sleep((DWORD)ms);
        }
    } else if (!strcmp(cmd, "cat")) {
        char buf[4096];
        DWORD got, w;
        HANDLE in = GetStdHandle(STD_INPUT_HANDLE), out = GetStdHandle(STD_OUTPUT_HANDLE);
        while (ReadFile(in, buf, sizeof buf, &got, NULL) && got > 0)
            WriteFile(out, buf, got, &w, NULL);
        printf("eof\n");
        fflush(stdout);
    } else if (!strcmp(cmd, "env") && argc > 1) {
        const char *v = getenv(argv[1]);
        printf("%s=%s\n", argv[1], v ? v : "(unset)");
        fflush(stdout);
    } else if (!strcmp(cmd, "pwd")) {
        char d[MAX_PATH];
        GetCurrentDirectoryA(sizeof d, d);
        printf("%s\n", d);
        fflush(stdout);
    } else if (!strcmp(cmd, "burn") && argc > 1) {
        ULONGLONG end = GetTickCount64() + (ULONGLONG)atoi(argv[1]);
        volatile unsigned long x = 0;
        while (GetTickCount64() < end)
            x++;
    } else if (!strcmp(cmd, "tty")) {
        DWORD mode;
        CONSOLE_SCREEN_BUFFER_INFO info;
        HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE);
        if (GetConsoleMode(out, &mode) && GetConsoleScreenBufferInfo(out, &info))
            printf("console %dx%d\n", info.srWindow.Right - info.srWindow.Left + 1,
                   info.srWindow.Bottom - info.srWindow.Top + 1);
        else
            printf("pipe\n");
        fflush(stdout);
    } else if (!strcmp(cmd, "run") || !strcmp(cmd, "stubborn")) {
        ignore_events = !strcmp(cmd, "stubborn");
        wait_event();
    } else if (!strcmp(cmd, "linger") && argc > 1) {
        linger_ms = (DWORD)atoi(argv[1]);
        wait_event();
    } else if (!strcmp(cmd, "listen") && argc > 1) {
        listen_on(atoi(argv[1]));
    } else if (!strcmp(cmd, "long") && argc > 1) {
        for (int i = atoi(argv[1]); i > 0; i--)
            putchar('x');
        putchar('\n');
        fflush(stdout);
    } else if (!strcmp(cmd, "type") && argc > 1) {
        FILE *f = fopen(argv[1], "rb");
        char line[512] = "";
        if (!f) {
            printf("missing %s\n", argv[1]);
        } else {
            if (!fgets(line, sizeof line, f))
                line[0] = '\0';
            fclose(f);
            line[strcspn(line, "\r\n")] = '\0';
            printf("%s\n", line);
        }
        fflush(stdout);
    } else if (!strcmp(cmd, "write") && argc > 2) {
        FILE *f = fopen(argv[1], "wb");
        if (!f)
            return 4;
        fprintf(f, "%s\n", argv[2]);
        fclose(f);
    } else if (!strcmp(cmd, "whoami")) {
        HANDLE tok;
        BYTE buf[256];
        DWORD n = 0, nl = 128, dl = 128;
        char name[128] = "?", dom[128] = "?", *sid = NULL;
        SID_NAME_USE use;
        if (OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok) &&
            GetTokenInformation(tok, TokenUser, buf, sizeof buf, &n)) {
            PSID s = ((TOKEN_USER *)buf)->User.Sid;
            LookupAccountSidA(NULL, s, name, &nl, dom, &dl, &use);
            ConvertSidToStringSidA(s, &sid);
        }
        printf("user %s\\%s sid %s\n", dom, name, sid ? sid : "?");
        fflush(stdout);
        LocalFree(sid);
    } else if (!strcmp(cmd, "pid")) {
        printf("pid %lu\n", (unsigned long)GetCurrentProcessId());
        fflush(stdout);
    } else if (!strcmp(cmd, "cpus")) {
        printf("cpus %lu\n", (unsigned long)GetActiveProcessorCount(ALL_PROCESSOR_GROUPS));
        fflush(stdout);
    } else if (!strcmp(cmd, "logon") && argc > 3) {
        try_logon(argc, argv);
    } else if (!strcmp(cmd, "jobcpu") && argc > 2) {
        try_jobcpu(argv);
    } else if (!strcmp(cmd, "symlink") && argc > 3) {
        try_symlink(argv);
    } else if (!strcmp(cmd, "spawn")) {
        char self[MAX_PATH], line[MAX_PATH + 16];
        GetModuleFileNameA(NULL, self, sizeof self);
        snprintf(line, sizeof line, "\"%s\" run", self);
        STARTUPINFOA si = {.cb = sizeof si};
        PROCESS_INFORMATION pi;
        if (!CreateProcessA(NULL, line, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi))
            return 3;
        printf("child pid=%lu\n", (unsigned long)pi.dwProcessId);
        fflush(stdout);
        CloseHandle(pi.hThread);
        CloseHandle(pi.hProcess);
    } else {
        fprintf(stderr, "ctr: unknown command %s\n", cmd);
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    SetConsoleCtrlHandler(on_ctrl, TRUE);
    int start = 1;
    for (int i = 1; i <= argc; i++) {
        if (i == argc || !strcmp(argv[i], ";")) {
            if (i > start) {
                int rc = run(i - start, argv + start);
                if (rc)
                    return rc;
            }
            start = i + 1;
        }
    }
    return 0;
}
