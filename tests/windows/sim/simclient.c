/* winsim DLL side: the request/reply channel to the host. */
#include "simclient.h"

#include <ws2tcpip.h>

#include <objbase.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static INIT_ONCE wsa_once = INIT_ONCE_STATIC_INIT;

static BOOL CALLBACK wsa_init(PINIT_ONCE o, void *p, void **c)
{
    (void)o;
    (void)p;
    (void)c;
    WSADATA wsa;
    return WSAStartup(MAKEWORD(2, 2), &wsa) == 0;
}

SOCKET sim_connect(void)
{
    InitOnceExecuteOnce(&wsa_once, wsa_init, NULL, NULL);
    char port[16];
    DWORD n = GetEnvironmentVariableA("WINSIM_PORT", port, sizeof port);
    if (n == 0 || n >= sizeof port)
        return INVALID_SOCKET;
    SOCKET s = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_NO_HANDLE_INHERIT);
    if (s == INVALID_SOCKET)
        return s;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((u_short)atoi(port))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        closesocket(s);
        return INVALID_SOCKET;
    }
    return s;
}

char *sim_read_line(SOCKET s, sb *pending)
{
    for (;;) {
        char *nl = pending->p ? memchr(pending->p, '\n', pending->n) : NULL;
        if (nl) {
            size_t len = (size_t)(nl - pending->p);
            char *line = malloc(len + 1);
            memcpy(line, pending->p, len);
            line[len] = '\0';
            memmove(pending->p, nl + 1, pending->n - len - 1);
            pending->n -= len + 1;
            pending->p[pending->n] = '\0';
            return line;
        }
        char buf[16384];
        int got = recv(s, buf, sizeof buf, 0);
        if (got <= 0)
            return NULL;
        sb_addn(pending, buf, (size_t)got);
    }
}

void sim_begin(sb *b, const char *op)
{
    memset(b, 0, sizeof *b);
    sb_add(b, "{\"op\":");
    sb_qstr(b, op);
    sb_addf(b, ",\"pid\":%lu", (unsigned long)GetCurrentProcessId());
}

void sim_kv_str(sb *b, const char *key, const char *value)
{
    sb_add(b, ",");
    sb_qstr(b, key);
    sb_add(b, ":");
    sb_qstr(b, value);
}

void sim_kv_wstr(sb *b, const char *key, const WCHAR *value)
{
    char *u = sim_w2u(value);
    sim_kv_str(b, key, u);
    free(u);
}

void sim_kv_int(sb *b, const char *key, long long value)
{
    sb_add(b, ",");
    sb_qstr(b, key);
    sb_addf(b, ":%lld", value);
}

sj *sim_send(sb *b)
{
    sb_add(b, "}\n");
    SOCKET s = sim_connect();
    sj *reply = NULL;
    if (s != INVALID_SOCKET) {
        size_t off = 0;
        while (off < b->n) {
            int w = send(s, b->p + off, (int)(b->n - off), 0);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        sb pending = {0};
        char *line = off == b->n ? sim_read_line(s, &pending) : NULL;
        reply = line ? sj_parse(line) : NULL;
        free(line);
        free(pending.p);
        closesocket(s);
    }
    free(b->p);
    memset(b, 0, sizeof *b);
    return reply;
}

HRESULT sim_hr(const sj *reply, HRESULT unreachable)
{
    return reply ? (HRESULT)sj_int(sj_get(reply, "hr"), E_FAIL) : unreachable;
}

char *sim_w2u(const WCHAR *w)
{
    if (!w)
        return NULL;
    int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
    char *s = malloc(n > 0 ? (size_t)n : 1);
    if (n > 0)
        WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL);
    else
        s[0] = '\0';
    return s;
}

static WCHAR *u2w(const char *s, int cotask)
{
    if (!s)
        return NULL;
    int n = MultiByteToWideChar(CP_UTF8, 0, s, -1, NULL, 0);
    size_t bytes = (size_t)(n > 0 ? n : 1) * sizeof(WCHAR);
    WCHAR *w = cotask ? CoTaskMemAlloc(bytes) : LocalAlloc(LMEM_FIXED, bytes);
    if (!w)
        return NULL;
    if (n > 0)
        MultiByteToWideChar(CP_UTF8, 0, s, -1, w, n);
    else
        w[0] = 0;
    return w;
}

WCHAR *sim_u2w_local(const char *s)
{
    return u2w(s, 0);
}

WCHAR *sim_u2w_cotask(const char *s)
{
    return u2w(s, 1);
}

void sim_guid_str(const GUID *g, char out[37])
{
    snprintf(out, 37, "%08lx-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", (unsigned long)g->Data1,
             g->Data2, g->Data3, g->Data4[0], g->Data4[1], g->Data4[2], g->Data4[3], g->Data4[4],
             g->Data4[5], g->Data4[6], g->Data4[7]);
}

long long sim_new_handle(void)
{
    static volatile LONG counter;
    return ((long long)GetCurrentProcessId() << 32) | (unsigned)InterlockedIncrement(&counter);
}
