/* The Windows keeper's messages and handle passing (keeper_int_win32.h). */
#include "podsandbox/keeper_int_win32.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/fs.h"
#include "common/xalloc.h"

char *pod_wkeeper_path(const char *state_dir, const char *leaf)
{
    char *dir = wc_path_join(state_dir, POD_WKEEPER_DIR);
    if (!leaf)
        return dir;
    char *p = wc_path_join(dir, leaf);
    free(dir);
    return p;
}

int pod_wmsg_send(HANDLE pipe, const json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    size_t len = strlen(text);
    DWORD written = 0;
    /* A message-mode pipe delivers one write as one message. */
    BOOL ok = len <= POD_WKEEPER_MSG_MAX && WriteFile(pipe, text, (DWORD)len, &written, NULL) &&
              written == len;
    free(text);
    return ok ? 0 : -1;
}

int pod_wmsg_recv(HANDLE pipe, json_t **msg)
{
    *msg = NULL;
    char *buf = wc_xmalloc(POD_WKEEPER_MSG_MAX);
    DWORD n = 0;
    int rc = -1;
    if (ReadFile(pipe, buf, POD_WKEEPER_MSG_MAX, &n, NULL)) {
        *msg = json_loadb(buf, n, 0, NULL);
        rc = json_is_object(*msg) ? 1 : -1;
    } else if (GetLastError() == ERROR_BROKEN_PIPE || GetLastError() == ERROR_PIPE_NOT_CONNECTED) {
        rc = 0;
    }
    free(buf);
    if (rc != 1) {
        json_decref(*msg);
        *msg = NULL;
    }
    return rc;
}

json_t *pod_whandle_give(HANDLE to, HANDLE h)
{
    HANDLE copy = NULL;
    if (!h || !DuplicateHandle(GetCurrentProcess(), h, to, &copy, 0, FALSE, DUPLICATE_SAME_ACCESS))
        copy = NULL;
    return json_integer((json_int_t)(uintptr_t)copy);
}

HANDLE pod_whandle_take(const json_t *msg, const char *key)
{
    return (HANDLE)(uintptr_t)json_integer_value(json_object_get(msg, key));
}
