/* Exit statuses of any process, from the kernel's process connector (CN_PROC, netlink):
 * waitpid tells a parent its child's status, but a container init that outlived its parent
 * (adopted by a restarted wincrid, or watched by the keeper) has no parent to tell. The
 * connector reports every exit on the node with the same wait status; we keep the last
 * HCS_PROCEXIT_KEEP of them for the pids someone asks about when their pidfd fires. Needs
 * CAP_NET_ADMIN (root). */
#include "hcs/procexit.h"

#include <errno.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/xalloc.h"

#define HCS_PROCEXIT_KEEP 4096
#define HCS_PROCEXIT_RCVBUF (4 * 1024 * 1024)

typedef struct seen_exit {
    pid_t pid;
    int status;
    int64_t at_ns;
} seen_exit;

struct hcs_procexit {
    int fd;
    seen_exit ring[HCS_PROCEXIT_KEEP];
    size_t next;
};

/* The subscription message: a netlink header, a connector header, and the op, laid out in a
 * byte buffer (cn_msg ends in a flexible array, so it cannot sit inside a struct). */
static int subscribe(int fd, enum proc_cn_mcast_op op)
{
    union {
        struct nlmsghdr align;
        unsigned char bytes[NLMSG_SPACE(sizeof(struct cn_msg) + sizeof op)];
    } buf;
    memset(&buf, 0, sizeof buf);
    struct nlmsghdr *nl = &buf.align;
    struct cn_msg *cn = NLMSG_DATA(nl);
    nl->nlmsg_len = NLMSG_LENGTH(sizeof *cn + sizeof op);
    nl->nlmsg_pid = (uint32_t)getpid();
    nl->nlmsg_type = NLMSG_DONE;
    cn->id.idx = CN_IDX_PROC;
    cn->id.val = CN_VAL_PROC;
    cn->len = sizeof op;
    memcpy(cn->data, &op, sizeof op);
    return send(fd, nl, nl->nlmsg_len, 0) == (ssize_t)nl->nlmsg_len ? 0 : -1;
}

/* Offsets in a connector message: the netlink header, the cn_msg header, the event. */
#define EV_AT (NLMSG_HDRLEN + offsetof(struct cn_msg, data))
#define EV_WHAT (EV_AT + offsetof(struct proc_event, what))
#define EV_PID (EV_AT + offsetof(struct proc_event, event_data.exit.process_pid))
#define EV_TGID (EV_AT + offsetof(struct proc_event, event_data.exit.process_tgid))

/* The connector reports every fork, exec, id change and thread exit on the node; on a busy
 * node that is thousands of wake-ups a second for wincrid and the keeper. A socket filter
 * lets only what remember() keeps through: exits of whole processes (pid == tgid). Classic
 * BPF loads words in network byte order, hence htonl on the constant; the pid and tgid are
 * compared to each other, both loaded the same way. */
static int filter_exits(int fd)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, EV_WHAT),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htonl(PROC_EVENT_EXIT), 0, 6),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, EV_TGID),
        BPF_STMT(BPF_ST, 0),
        BPF_STMT(BPF_LDX | BPF_W | BPF_MEM, 0),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, EV_PID),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_X, 0, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0xffffffff), /* keep it whole */
        BPF_STMT(BPF_RET | BPF_K, 0),          /* drop */
    };
    struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog);
}

int hcs_procexit_open(hcs_procexit **out, wc_err *err)
{
    *out = NULL;
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR);
    if (fd < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot open the process connector");
    int size = HCS_PROCEXIT_RCVBUF;
    /* Past rmem_max only with CAP_NET_ADMIN, which we have; a smaller buffer still works. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    struct sockaddr_nl addr = {.nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC};
    if (filter_exits(fd) < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        subscribe(fd, PROC_CN_MCAST_LISTEN) < 0) {
        int e = errno;
        close(fd);
        return wc_err_sys(err, WC_INTERNAL, e, "cannot listen to the process connector");
    }
    hcs_procexit *p = wc_xcalloc(1, sizeof *p);
    p->fd = fd;
    *out = p;
    return 0;
}

int hcs_procexit_fd(const hcs_procexit *p)
{
    return p ? p->fd : -1;
}

static void remember(hcs_procexit *p, const struct proc_event *ev)
{
    /* One event per thread: the process's own is its leader's (pid == tgid). */
    if (ev->event_data.exit.process_pid != ev->event_data.exit.process_tgid)
        return;
    seen_exit *s = &p->ring[p->next++ % HCS_PROCEXIT_KEEP];
    s->pid = ev->event_data.exit.process_pid;
    s->status = (int)ev->event_data.exit.exit_code;
    s->at_ns = wc_clock_realtime_ns();
}

int hcs_procexit_drain(hcs_procexit *p)
{
    char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
    int lost = 0;
    for (;;) {
        ssize_t n = recv(p->fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == ENOBUFS) {
            lost = 1; /* the kernel dropped events: the caller rechecks what it watches */
            continue;
        }
        if (n <= 0)
            break;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
             h = NLMSG_NEXT(h, n)) {
            const struct cn_msg *m = NLMSG_DATA(h);
            /* The event follows a 20-byte header: copied out to be read aligned. */
            struct proc_event ev;
            if (m->len < sizeof ev)
                continue;
            memcpy(&ev, m->data, sizeof ev);
            if (m->id.idx == CN_IDX_PROC && ev.what == PROC_EVENT_EXIT)
                remember(p, &ev);
        }
    }
    return lost ? -1 : 0;
}

int hcs_procexit_take(hcs_procexit *p, pid_t pid, int *wait_status, int64_t *at_ns)
{
    if (!p)
        return 0;
    for (size_t k = 0; k < HCS_PROCEXIT_KEEP; k++) {
        seen_exit *s = &p->ring[(p->next - 1 - k) % HCS_PROCEXIT_KEEP];
        if (s->pid == pid && s->pid != 0) {
            *wait_status = s->status;
            if (at_ns)
                *at_ns = s->at_ns;
            s->pid = 0;
            return 1;
        }
    }
    return 0;
}

void hcs_procexit_close(hcs_procexit *p)
{
    if (!p)
        return;
    close(p->fd);
    free(p);
}
