/* winsim DLL side: the DLL doubles forward each API call to the winsim host (simhost.exe)
 * as one JSON request line over 127.0.0.1:%WINSIM_PORT% and read one reply line. */
#ifndef WINSIM_SIMCLIENT_H
#define WINSIM_SIMCLIENT_H

#include <winsock2.h>
#include <windows.h>

#include "simjson.h"

/* HRESULT when the host cannot be reached: the service is not running. */
#define SIM_E_SERVICE_NOT_AVAILABLE ((HRESULT)0x80370114L) /* HCS_E_SERVICE_NOT_AVAILABLE */

/* Starts a request: {"op":"<op>","pid":<this process> */
void sim_begin(sb *b, const char *op);
void sim_kv_str(sb *b, const char *key, const char *value);
void sim_kv_wstr(sb *b, const char *key, const WCHAR *value);
void sim_kv_int(sb *b, const char *key, long long value);
/* Finishes the request (adds "}"), sends it, frees b. NULL when the host is unreachable. */
sj *sim_send(sb *b);
HRESULT sim_hr(const sj *reply, HRESULT unreachable);
/* A connected socket to the host (for the event stream), INVALID_SOCKET if none. */
SOCKET sim_connect(void);
/* Reads one line (malloc'd, without the newline) from s; NULL at the end. */
char *sim_read_line(SOCKET s, sb *pending);

char *sim_w2u(const WCHAR *w);        /* malloc'd UTF-8, NULL for NULL */
WCHAR *sim_u2w_local(const char *s);  /* LocalAlloc (HCS results) */
WCHAR *sim_u2w_cotask(const char *s); /* CoTaskMemAlloc (HCN, HNS results) */
void sim_guid_str(const GUID *g, char out[37]);
long long sim_new_handle(void);

#endif
