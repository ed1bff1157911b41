/* Runs under wine: the Windows front (cri/front_win32.c) serves a named pipe and a TCP port
 * and relays every client to a local TCP echo listener standing in for gRPC core. Checks the
 * bytes, the peer registration, concurrency, large transfers, both close directions, the
 * pipe's DACL, a second server on the same name, stop-accepting and free. Prints one line
 * per check and ends with "N passed, N failed". Built by tests/windows/test_wine_front.py. */
#include <winsock2.h>
#include <ws2tcpip.h>

#include <windows.h>

#include <aclapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cri/front.h"

static int passed, failed;

static void check(const char *name, int ok, const char *detail)
{
    if (ok) {
        passed++;
        printf("ok - %s\n", name);
    } else {
        failed++;
        printf("not ok - %s%s%s\n", name, detail ? ": " : "", detail ? detail : "");
    }
    fflush(stdout);
}

/* ---- the echo listener standing in for gRPC core ---- */

static SOCKET echo_listener;
static int echo_port;
static volatile LONG echo_last_peer; /* local port of the front's connection, as we see it */
static volatile LONG echo_eofs;      /* connections that ended with the client's EOF */

/* Echoes until EOF; a chunk ending in "BYE" is echoed and then the connection closed. */
static DWORD WINAPI echo_conn(void *arg)
{
    SOCKET s = (SOCKET)(uintptr_t)arg;
    char buf[16384];
    for (;;) {
        int n = recv(s, buf, sizeof buf, 0);
        if (n <= 0) {
            if (n == 0)
                InterlockedIncrement(&echo_eofs);
            break;
        }
        for (int off = 0; off < n;) {
            int w = send(s, buf + off, n - off, 0);
            if (w <= 0)
                goto out;
            off += w;
        }
        if (n >= 3 && memcmp(buf + n - 3, "BYE", 3) == 0)
            break;
    }
out:
    closesocket(s);
    return 0;
}

static DWORD WINAPI echo_accept(void *arg)
{
    (void)arg;
    for (;;) {
        struct sockaddr_in peer;
        int len = sizeof peer;
        SOCKET c = accept(echo_listener, (struct sockaddr *)&peer, &len);
        if (c == INVALID_SOCKET)
            return 0;
        InterlockedExchange(&echo_last_peer, ntohs(peer.sin_port));
        CloseHandle(CreateThread(NULL, 0, echo_conn, (void *)(uintptr_t)c, 0, NULL));
    }
}

static int tcp_listen_any(SOCKET *out)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int len = sizeof sa;
    if (bind(s, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(s, 16) != 0 ||
        getsockname(s, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    *out = s;
    return ntohs(sa.sin_port);
}

/* ---- clients ---- */

static HANDLE pipe_open(const wchar_t *name, DWORD extra_access)
{
    for (int i = 0; i < 50; i++) {
        HANDLE h = CreateFileW(name, GENERIC_READ | GENERIC_WRITE | extra_access, 0, NULL,
                               OPEN_EXISTING, 0, NULL);
        if (h != INVALID_HANDLE_VALUE || GetLastError() != ERROR_PIPE_BUSY)
            return h;
        WaitNamedPipeW(name, 200);
    }
    return INVALID_HANDLE_VALUE;
}

static int write_all(HANDLE h, const char *buf, DWORD len)
{
    while (len > 0) {
        DWORD n = 0;
        if (!WriteFile(h, buf, len, &n, NULL))
            return -1;
        buf += n;
        len -= n;
    }
    return 0;
}

static int read_exact(HANDLE h, char *buf, DWORD len)
{
    while (len > 0) {
        DWORD n = 0;
        if (!ReadFile(h, buf, len, &n, NULL) || n == 0)
            return -1;
        buf += n;
        len -= n;
    }
    return 0;
}

static int echo_roundtrip(HANDLE h, const char *msg)
{
    char back[256] = {0};
    DWORD len = (DWORD)strlen(msg);
    return write_all(h, msg, len) == 0 && read_exact(h, back, len) == 0 &&
           memcmp(back, msg, len) == 0;
}

static int allowed(cri_front *f, int port)
{
    char peer[64];
    snprintf(peer, sizeof peer, "ipv4:127.0.0.1:%d", port);
    return cri_front_peer_allowed(f, peer);
}

/* Waits up to 5 s for cond(arg) to hold. */
static int eventually(int (*cond)(void *), void *arg)
{
    for (int i = 0; i < 100; i++) {
        if (cond(arg))
            return 1;
        Sleep(50);
    }
    return 0;
}

typedef struct port_check {
    cri_front *f;
    int port;
} port_check;

static int port_gone(void *arg)
{
    port_check *p = arg;
    return !allowed(p->f, p->port);
}

static LONG eofs_before;
static int eof_seen(void *arg)
{
    (void)arg;
    return echo_eofs > eofs_before;
}

/* ---- checks ---- */

typedef struct big_write {
    HANDLE h;
    char *data;
    DWORD len;
    int rc;
} big_write;

static DWORD WINAPI big_writer(void *arg)
{
    big_write *w = arg;
    w->rc = write_all(w->h, w->data, w->len);
    return 0;
}

static void check_large_transfer(const wchar_t *name)
{
    const DWORD len = 1u << 20;
    char *out = malloc(len), *in = malloc(len);
    for (DWORD i = 0; i < len; i++)
        out[i] = (char)(i * 7 + (i >> 11));
    HANDLE h = pipe_open(name, 0);
    big_write w = {h, out, len, -1};
    HANDLE t = CreateThread(NULL, 0, big_writer, &w, 0, NULL);
    int rc = read_exact(h, in, len);
    WaitForSingleObject(t, INFINITE);
    CloseHandle(t);
    check("1 MiB round trip through the pipe", rc == 0 && w.rc == 0 && memcmp(in, out, len) == 0,
          NULL);
    CloseHandle(h);
    free(out);
    free(in);
}

static void check_dacl(const wchar_t *name)
{
    HANDLE h = pipe_open(name, READ_CONTROL);
    PACL dacl = NULL;
    PSECURITY_DESCRIPTOR sd = NULL;
    DWORD rc = h == INVALID_HANDLE_VALUE
                   ? GetLastError()
                   : GetSecurityInfo(h, SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION, NULL, NULL,
                                     &dacl, NULL, &sd);
    int sy = 0, ba = 0, other = 0;
    ACL_SIZE_INFORMATION info = {0};
    if (rc == ERROR_SUCCESS && dacl &&
        GetAclInformation(dacl, &info, sizeof info, AclSizeInformation)) {
        for (DWORD i = 0; i < info.AceCount; i++) {
            ACCESS_ALLOWED_ACE *ace = NULL;
            if (!GetAce(dacl, i, (void **)&ace) || ace->Header.AceType != ACCESS_ALLOWED_ACE_TYPE) {
                other++;
                continue;
            }
            PSID sid = (PSID)&ace->SidStart;
            if (IsWellKnownSid(sid, WinLocalSystemSid))
                sy++;
            else if (IsWellKnownSid(sid, WinBuiltinAdministratorsSid))
                ba++;
            else
                other++;
        }
    }
    char detail[128];
    snprintf(detail, sizeof detail, "rc=%lu aces=%lu system=%d admins=%d other=%d",
             (unsigned long)rc, (unsigned long)info.AceCount, sy, ba, other);
    printf("  # pipe DACL: %s\n", detail);
    check("pipe DACL allows only SYSTEM and Administrators", sy == 1 && ba == 1 && other == 0,
          detail);
    if (sd)
        LocalFree(sd);
    if (h != INVALID_HANDLE_VALUE)
        CloseHandle(h);
}

/* Whether this Windows (or wine) refuses a second "first instance" of a pipe name. */
static int first_instance_honoured(void)
{
    wchar_t name[128];
    swprintf(name, 128, L"\\\\.\\pipe\\wincri-wine-probe-%lu", GetCurrentProcessId());
    DWORD mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_FIRST_PIPE_INSTANCE;
    HANDLE a =
        CreateNamedPipeW(name, mode, PIPE_TYPE_BYTE, PIPE_UNLIMITED_INSTANCES, 512, 512, 0, NULL);
    HANDLE b =
        CreateNamedPipeW(name, mode, PIPE_TYPE_BYTE, PIPE_UNLIMITED_INSTANCES, 512, 512, 0, NULL);
    int honoured = a != INVALID_HANDLE_VALUE && b == INVALID_HANDLE_VALUE;
    if (a != INVALID_HANDLE_VALUE)
        CloseHandle(a);
    if (b != INVALID_HANDLE_VALUE)
        CloseHandle(b);
    return honoured;
}

static void check_pipe_front(void)
{
    char uri[128];
    wchar_t name[128];
    snprintf(uri, sizeof uri, "npipe:////./pipe/wincri-wine-%lu", GetCurrentProcessId());
    swprintf(name, 128, L"\\\\.\\pipe\\wincri-wine-%lu", GetCurrentProcessId());
    cri_front *f = NULL;
    wc_err err = {0};
    int rc = cri_front_new(uri, &f, &err);
    if (rc == 0)
        rc = cri_front_start(f, echo_port, &err);
    check("named-pipe front starts", rc == 0, err.msg);
    if (rc != 0)
        return;

    HANDLE a = pipe_open(name, 0);
    check("client opens the pipe", a != INVALID_HANDLE_VALUE, NULL);
    check("bytes relayed to the TCP listener and back", echo_roundtrip(a, "hello"), NULL);
    int port_a = (int)echo_last_peer;
    check("relay connection's local port is registered", port_a > 0 && allowed(f, port_a), NULL);
    check("other ports are refused", !allowed(f, port_a == 1 ? 2 : 1), NULL);
    check("a foreign peer string is refused", !cri_front_peer_allowed(f, "ipv6:[::1]:1"), NULL);

    HANDLE c[3];
    int all = 1;
    for (int i = 0; i < 3; i++)
        c[i] = pipe_open(name, 0);
    for (int i = 0; i < 3; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "client-%d", i);
        all &= c[i] != INVALID_HANDLE_VALUE && echo_roundtrip(c[i], msg);
    }
    check("three more clients at once, each its own instance", all, NULL);

    eofs_before = echo_eofs;
    CloseHandle(c[0]);
    check("client close reaches gRPC core as EOF", eventually(eof_seen, NULL), NULL);
    for (int i = 1; i < 3; i++)
        CloseHandle(c[i]);

    check_large_transfer(name);

    HANDLE b = pipe_open(name, 0);
    char back[8] = {0};
    DWORD n = 0;
    int got = write_all(b, "BYE", 3) == 0 && read_exact(b, back, 3) == 0;
    BOOL more = ReadFile(b, back, 1, &n, NULL);
    DWORD e = GetLastError();
    check("gRPC core closing ends the client's pipe after its data",
          got && memcmp(back, "BYE", 3) == 0 && !more && e == ERROR_BROKEN_PIPE, NULL);
    CloseHandle(b);

    check_dacl(name);

    cri_front *g = NULL;
    wc_err gerr = {0};
    int grc = cri_front_new(uri, &g, &gerr);
    if (grc == 0)
        grc = cri_front_start(g, echo_port, &gerr);
    printf("  # second front: %s\n", gerr.msg);
    if (first_instance_honoured())
        check("a second server on the same pipe name is refused",
              grc == -1 && gerr.code == WC_FAILED_PRECONDITION, gerr.msg);
    else
        printf("  # skip - this wine ignores FILE_FLAG_FIRST_PIPE_INSTANCE; the refusal of a "
               "second server needs Windows\n");
    cri_front_free(g);

    cri_front_stop_accepting(f);
    HANDLE late = CreateFileW(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    DWORD late_err = GetLastError();
    /* With connections still open the name lives on, so Windows says "busy". */
    char late_detail[64];
    snprintf(late_detail, sizeof late_detail, "CreateFile error %lu", (unsigned long)late_err);
    printf("  # late client: %s\n", late_detail);
    check("after stop_accepting new clients are not served",
          late == INVALID_HANDLE_VALUE &&
              (late_err == ERROR_FILE_NOT_FOUND || late_err == ERROR_PIPE_BUSY),
          late_detail);
    if (late != INVALID_HANDLE_VALUE)
        CloseHandle(late);
    check("after stop_accepting open connections keep relaying", echo_roundtrip(a, "still"), NULL);
    check("open connection still registered", allowed(f, port_a), NULL);

    cri_front_free(f);
    BOOL r = ReadFile(a, back, 1, &n, NULL);
    e = GetLastError();
    check("free closes open connections", !r && e == ERROR_BROKEN_PIPE, NULL);
    CloseHandle(a);
}

static void check_port_removed(void)
{
    char uri[128];
    wchar_t name[128];
    snprintf(uri, sizeof uri, "npipe:////./pipe/wincri-wine-rm-%lu", GetCurrentProcessId());
    swprintf(name, 128, L"\\\\.\\pipe\\wincri-wine-rm-%lu", GetCurrentProcessId());
    cri_front *f = NULL;
    wc_err err = {0};
    if (cri_front_new(uri, &f, &err) != 0 || cri_front_start(f, echo_port, &err) != 0) {
        check("port removal front starts", 0, err.msg);
        return;
    }
    HANDLE h = pipe_open(name, 0);
    int ok = echo_roundtrip(h, "x");
    port_check pc = {f, (int)echo_last_peer};
    int was = allowed(f, pc.port);
    CloseHandle(h);
    check("a closed connection's port is unregistered", ok && was && eventually(port_gone, &pc),
          NULL);
    cri_front_free(f);
}

static void check_tcp_front(void)
{
    SOCKET probe;
    int port = tcp_listen_any(&probe);
    closesocket(probe);
    char uri[64];
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%d", port);
    cri_front *f = NULL;
    wc_err err = {0};
    int rc = cri_front_new(uri, &f, &err);
    if (rc == 0)
        rc = cri_front_start(f, echo_port, &err);
    check("tcp front starts", rc == 0, err.msg);
    if (rc != 0)
        return;
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((u_short)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char back[8] = {0};
    int ok = connect(s, (struct sockaddr *)&sa, sizeof sa) == 0 && send(s, "tcp", 3, 0) == 3;
    int got = 0;
    while (ok && got < 3) {
        int n = recv(s, back + got, 3 - got, 0);
        if (n <= 0)
            break;
        got += n;
    }
    check("tcp client relayed to the listener and back", got == 3 && !memcmp(back, "tcp", 3), NULL);
    check("tcp relay's port is registered", allowed(f, (int)echo_last_peer), NULL);
    shutdown(s, SD_SEND);
    int n = recv(s, back, 1, 0);
    check("tcp half-close travels both ways", n == 0, NULL);
    closesocket(s);
    cri_front_free(f);
}

static void check_unix_refused(void)
{
    cri_front *f = NULL;
    wc_err err = {0};
    int rc = cri_front_new("unix:///run/wincri/wincri.sock", &f, &err);
    if (rc == 0)
        rc = cri_front_start(f, echo_port, &err);
    check("unix:// is refused on Windows", rc == -1 && err.code == WC_INVALID_ARGUMENT, err.msg);
    cri_front_free(f);
}

int main(void)
{
    WSADATA wsa;
    WSAStartup(MAKEWORD(2, 2), &wsa);
    echo_port = tcp_listen_any(&echo_listener);
    if (echo_port <= 0) {
        printf("cannot start the echo listener\n0 passed, 1 failed\n");
        return 1;
    }
    CloseHandle(CreateThread(NULL, 0, echo_accept, NULL, 0, NULL));
    check_pipe_front();
    check_port_removed();
    check_tcp_front();
    check_unix_refused();
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    closesocket(echo_listener);
    return failed ? 1 : 0;
}
