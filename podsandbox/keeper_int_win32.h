/* What the Windows keeper and its client share: where the pipe's name is, messages, and
 * handles passed between the two processes (keeper_win32.h). */
#ifndef WINCRI_PODSANDBOX_KEEPER_INT_WIN32_H
#define WINCRI_PODSANDBOX_KEEPER_INT_WIN32_H

#include <windows.h>

#include <jansson.h>

#include "common/err.h"

#define POD_WKEEPER_DIR "keeper"     /* under the state dir: the pipe's name, the lock, log */
#define POD_WKEEPER_NAME_FILE "pipe" /* the pipe's name, written by the keeper */
#define POD_WKEEPER_MSG_MAX 65536

/* <state>\keeper\<leaf>; caller frees. */
char *pod_wkeeper_path(const char *state_dir, const char *leaf);

/* One message each way. recv: 1 with a message, 0 when the peer closed, -1 on a broken or
 * malformed message. */
int pod_wmsg_send(HANDLE pipe, const json_t *msg);
int pod_wmsg_recv(HANDLE pipe, json_t **msg);

/* h duplicated into process `to` as a JSON number (0 for NULL or when it cannot be). */
json_t *pod_whandle_give(HANDLE to, HANDLE h);
/* A handle received in msg[key] (NULL for 0 or none); the receiver owns it. */
HANDLE pod_whandle_take(const json_t *msg, const char *key);

#endif
