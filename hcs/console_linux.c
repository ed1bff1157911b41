/* runc's --console-socket: runc connects to a unix socket we listen on and sends the pty
 * master it made for the container as SCM_RIGHTS; we keep that fd as the container's output. */
#include "hcs/runtime_linux.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static char *console_path(const char *dir)
{
    struct sockaddr_un sa;
    char buf[4096];
    snprintf(buf, sizeof buf, "%s/console.sock", dir);
    if (strlen(buf) < sizeof sa.sun_path)
        return wc_xstrdup(buf);
    /* Too long for sun_path: a private directory under /tmp instead. */
    char tmpl[] = "/tmp/wincri-console.XXXXXX";
    if (!mkdtemp(tmpl))
        return NULL;
    snprintf(buf, sizeof buf, "%s/s", tmpl);
    return wc_xstrdup(buf);
}

int hcs_console_listen(const char *dir, int *fd, char **path, wc_err *err)
{
    *fd = -1;
    *path = console_path(dir);
    if (!*path)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot make a console socket path");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", *path);
    unlink(*path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(s, 1) < 0) {
        int e = errno;
        if (s >= 0)
            close(s);
        hcs_console_remove(*path);
        free(*path);
        *path = NULL;
        return wc_err_sys(err, WC_INTERNAL, e, "cannot listen for the console on %s", sa.sun_path);
    }
    *fd = s;
    return 0;
}

static int recv_fd(int conn, int *out_fd, wc_err *err)
{
    char byte[256];
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = {.iov_base = byte, .iov_len = sizeof byte};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl};
    /* runc sends right after connecting; do not wait forever on a peer that never does. */
    struct pollfd p = {.fd = conn, .events = POLLIN};
    if (poll(&p, 1, 10000) <= 0)
        return wc_err_set(err, WC_INTERNAL, "the OCI runtime sent no console");
    ssize_t n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot receive the console");
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
        return wc_err_set(err, WC_INTERNAL, "the OCI runtime sent no console fd");
    memcpy(out_fd, CMSG_DATA(c), sizeof(int));
    return 0;
}

int hcs_console_recv(int listen_fd, int *out_fd, wc_err *err)
{
    *out_fd = -1;
    int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "no console connection");
    int rc = recv_fd(conn, out_fd, err);
    close(conn);
    return rc;
}

void hcs_console_remove(const char *path)
{
    if (!path)
        return;
    unlink(path);
    /* The private /tmp directory, when one was made. */
    if (strncmp(path, "/tmp/wincri-console.", 20) == 0) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = '\0';
            rmdir(dir);
        }
    }
}
