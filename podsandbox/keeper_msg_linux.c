/* The keeper's messages: a SOCK_SEQPACKET datagram of JSON text, descriptors as SCM_RIGHTS. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "podsandbox/keeper_int.h"
#include "common/xalloc.h"

int pod_kmsg_send(int sock, const json_t *msg, const int *fds, size_t n_fds)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    if (!text || strlen(text) >= POD_KEEPER_MSG_MAX || n_fds > POD_KEEPER_FDS_MAX) {
        free(text);
        errno = EMSGSIZE;
        return -1;
    }
    struct iovec iov = {.iov_base = text, .iov_len = strlen(text)};
    union {
        char buf[CMSG_SPACE(POD_KEEPER_FDS_MAX * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (n_fds) {
        memset(&ctl, 0, sizeof ctl);
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(n_fds * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(n_fds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, n_fds * sizeof(int));
    }
    ssize_t n;
    do
        n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    free(text);
    return n < 0 ? -1 : 0;
}

int pod_kmsg_recv(int sock, json_t **msg, int *fds, size_t *n_fds)
{
    char *text = wc_xmalloc(POD_KEEPER_MSG_MAX + 1);
    union {
        char buf[CMSG_SPACE(POD_KEEPER_FDS_MAX * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = text, .iov_len = POD_KEEPER_MSG_MAX};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    *msg = NULL;
    *n_fds = 0;
    if (!text)
        return -1;
    ssize_t n;
    do
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); n > 0 && c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (*n_fds < POD_KEEPER_FDS_MAX)
                fds[(*n_fds)++] = fd;
            else
                close(fd);
        }
    }
    if (n <= 0) {
        free(text);
        return n == 0 ? 0 : -1;
    }
    *msg = json_loadb(text, (size_t)n, 0, NULL);
    free(text);
    if (!json_is_object(*msg) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        json_decref(*msg);
        *msg = NULL;
        for (size_t i = 0; i < *n_fds; i++)
            close(fds[i]);
        *n_fds = 0;
        errno = EPROTO;
        return -1;
    }
    return 1;
}
