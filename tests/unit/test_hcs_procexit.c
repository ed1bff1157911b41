/* The process connector as the keeper and an adopting wincrid use it (hcs/procexit.h): the
 * exit status of a process that is not our child arrives through the socket filter, and the
 * events the filter drops (forks, execs, thread exits) leave nothing to read. Needs root
 * (CAP_NET_ADMIN); skips without it. */
#include "tests/unit/testutil.h"

#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hcs/procexit.h"

static hcs_procexit *open_or_skip(void)
{
    hcs_procexit *p = NULL;
    wc_err err = {0};
    if (geteuid() != 0 || hcs_procexit_open(&p, &err) < 0)
        return NULL;
    return p;
}

/* Waits up to ms for pid's exit to be read from the connector. */
static int take_within(hcs_procexit *p, pid_t pid, int ms, int *status)
{
    for (int waited = 0; waited < ms; waited += 10) {
        struct pollfd pf = {.fd = hcs_procexit_fd(p), .events = POLLIN};
        poll(&pf, 1, 10);
        hcs_procexit_drain(p);
        if (hcs_procexit_take(p, pid, status, NULL))
            return 1;
    }
    return 0;
}

static void *thread_main(void *arg)
{
    return arg;
}

/* A grandchild (not ours to wait for) with a thread that ends before it does. */
static void grandchild_exiting_with(int code, int pipe_w)
{
    pid_t mid = fork();
    if (mid == 0) {
        pid_t g = fork();
        if (g == 0) {
            pthread_t t;
            pthread_create(&t, NULL, thread_main, NULL);
            pthread_join(t, NULL);
            usleep(100 * 1000);
            _exit(code);
        }
        ssize_t w = write(pipe_w, &g, sizeof g);
        _exit(w == sizeof g ? 0 : 1);
    }
    waitpid(mid, NULL, 0);
}

static void exit_of_a_non_child_arrives(void **state)
{
    (void)state;
    hcs_procexit *p = open_or_skip();
    if (!p)
        skip();
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    grandchild_exiting_with(7, fds[1]);
    pid_t g = 0;
    assert_int_equal(read(fds[0], &g, sizeof g), (ssize_t)sizeof g);
    int status = 0;
    assert_true(take_within(p, g, 5000, &status));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 7);
    close(fds[0]);
    close(fds[1]);
    hcs_procexit_close(p);
}

/* Reads what is queued on the connector socket, raw: how many events were not a process's
 * exit, and whether pid's exit was among them. */
static void read_raw(hcs_procexit *p, pid_t pid, int *others, int *seen)
{
    char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
    ssize_t n;
    while ((n = recv(hcs_procexit_fd(p), buf, sizeof buf, MSG_DONTWAIT)) > 0) {
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
             h = NLMSG_NEXT(h, n)) {
            const struct cn_msg *m = NLMSG_DATA(h);
            struct proc_event ev;
            memcpy(&ev, m->data, sizeof ev);
            if (ev.what != PROC_EVENT_EXIT ||
                ev.event_data.exit.process_pid != ev.event_data.exit.process_tgid)
                (*others)++;
            else if ((pid_t)ev.event_data.exit.process_pid == pid)
                *seen = 1;
        }
    }
}

/* A child that starts a thread and execs: of its fork, thread, exec and exits, only its own
 * exit reaches the socket (without the filter, its fork and exec would be there too, and
 * every other process's on the machine). */
static void only_process_exits_pass_the_filter(void **state)
{
    (void)state;
    hcs_procexit *p = open_or_skip();
    if (!p)
        skip();
    hcs_procexit_drain(p);
    pid_t c = fork();
    if (c == 0) {
        pthread_t t;
        pthread_create(&t, NULL, thread_main, NULL);
        pthread_join(t, NULL);
        execl("/bin/true", "true", (char *)NULL);
        _exit(127);
    }
    waitpid(c, NULL, 0);
    int others = 0, seen = 0;
    for (int i = 0; i < 100 && !seen; i++) {
        usleep(10 * 1000);
        read_raw(p, c, &others, &seen);
    }
    assert_true(seen);
    assert_int_equal(others, 0);
    hcs_procexit_close(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(exit_of_a_non_child_arrives),
                                       cmocka_unit_test(only_process_exits_pass_the_filter)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
