/* TEST SCAFFOLDING, not product code: a streaming server with a stand-in backend, so the
 * protocol tests can drive real clients against cri/streaming*.c without a container
 * runtime. "exec" runs the command as a host process (pipes, or a pty under TTY); "attach"
 * joins a shared ticker process's output (several attachers see the same lines); port
 * forwarding connects to 127.0.0.1:PORT.
 *
 * Control: one JSON request per line on stdin, e.g.
 *   {"kind":"exec","id":"c1","cmd":["cat"],"tty":false,"stdin":true,"stdout":true}
 * answered by one JSON line on stdout: {"url":"..."} or {"error":"...","code":3}. The first
 * line printed is {"base":URL,"pid":PID}. Options: --ttl-ms N --port N --tls-cert F
 * --tls-key F. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cri/streaming.h"

struct cri_stream_proc {
    int attach; /* an attach: wait() returns when detached */
    pid_t pid;
    int master; /* pty master (exec under TTY), for resize */
    int out_w;  /* attach: the write end the ticker feeds */
    int detached;
};

/* Children start with default signal handling, whatever the server thread had. */
static void reset_signals(void)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
}

/* ---- the shared "container main process" for attach ---- */

static pthread_mutex_t tick_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tick_cond = PTHREAD_COND_INITIALIZER;
static cri_stream_proc *attached[64];
static size_t n_attached;
static int ticker_started;
static pid_t ticker_pid;

static void *ticker_main(void *arg)
{
    int fd = *(int *)arg;
    free(arg);
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        pthread_mutex_lock(&tick_lock);
        for (size_t i = 0; i < n_attached; i++)
            if (write(attached[i]->out_w, buf, (size_t)n) < 0) {
                /* a slow attacher misses lines rather than stalling the others */
            }
        pthread_mutex_unlock(&tick_lock);
    }
    close(fd);
    return NULL;
}

static int ticker_start(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        reset_signals();
        dup2(p[1], 1);
        execl("/bin/sh", "sh", "-c",
              "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    ticker_pid = pid;
    int *arg = malloc(sizeof *arg);
    *arg = p[0];
    pthread_t t;
    pthread_create(&t, NULL, ticker_main, arg);
    pthread_detach(t);
    return 0;
}

static int tb_attach(void *ctx, const char *id, int tty, int want_in, int want_out, int want_err,
                     cri_stream_io *io, cri_stream_proc **proc, wc_err *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "pipe");
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    cri_stream_proc *pr = calloc(1, sizeof *pr);
    pr->attach = 1;
    pr->master = -1;
    pr->out_w = p[1];
    pthread_mutex_lock(&tick_lock);
    if (!ticker_started)
        ticker_started = ticker_start() == 0;
    attached[n_attached++] = pr;
    pthread_mutex_unlock(&tick_lock);
    io->in = -1;
    io->out = want_out ? p[0] : -1;
    io->err = -1;
    if (!want_out)
        close(p[0]);
    *proc = pr;
    return 0;
}

/* ---- exec: a host process ---- */

static void child_exec(const char *const *cmd, size_t n)
{
    reset_signals();
    char **argv = calloc(n + 1, sizeof *argv);
    for (size_t i = 0; i < n; i++)
        argv[i] = (char *)cmd[i];
    execvp(argv[0], argv);
    _exit(127);
}

static int tb_exec(void *ctx, const char *id, const char *const *cmd, size_t n, int tty,
                   int want_in, int want_out, int want_err, cri_stream_io *io,
                   cri_stream_proc **proc, wc_err *err)
{
    cri_stream_proc *pr = calloc(1, sizeof *pr);
    pr->master = -1;
    pr->out_w = -1;
    io->in = io->out = io->err = -1;
    if (tty) {
        int master, slave;
        struct winsize ws = {.ws_row = 24, .ws_col = 80};
        if (openpty(&master, &slave, NULL, NULL, &ws) < 0) {
            free(pr);
            return wc_err_sys(err, WC_INTERNAL, errno, "openpty");
        }
        fcntl(master, F_SETFD, FD_CLOEXEC);
        pr->pid = fork();
        if (pr->pid == 0) {
            setsid();
            ioctl(slave, TIOCSCTTY, 0);
            dup2(slave, 0);
            dup2(slave, 1);
            dup2(slave, 2);
            if (slave > 2)
                close(slave);
            child_exec(cmd, n);
        }
        close(slave);
        io->out = want_out ? dup(master) : -1;
        io->in = want_in ? dup(master) : -1;
        pr->master = master;
    } else {
        int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
        if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC)) {
            free(pr);
            return wc_err_sys(err, WC_INTERNAL, errno, "pipe");
        }
        pr->pid = fork();
        if (pr->pid == 0) {
            setsid();
            int devnull = open("/dev/null", O_RDWR);
            dup2(want_in ? pin[0] : devnull, 0);
            dup2(want_out ? pout[1] : devnull, 1);
            dup2(want_err ? perr[1] : devnull, 2);
            child_exec(cmd, n);
        }
        close(pin[0]);
        close(pout[1]);
        close(perr[1]);
        io->in = pin[1];
        io->out = pout[0];
        io->err = perr[0];
    }
    if (pr->pid < 0) {
        free(pr);
        return wc_err_sys(err, WC_INTERNAL, errno, "fork");
    }
    *proc = pr;
    return 0;
}

static int tb_resize(cri_stream_proc *p, unsigned w, unsigned h)
{
    if (p->master < 0)
        return -1;
    struct winsize ws = {.ws_row = (unsigned short)h, .ws_col = (unsigned short)w};
    return ioctl(p->master, TIOCSWINSZ, &ws);
}

static int tb_wait(cri_stream_proc *p, int *code)
{
    if (p->attach) {
        pthread_mutex_lock(&tick_lock);
        while (!p->detached)
            pthread_cond_wait(&tick_cond, &tick_lock);
        pthread_mutex_unlock(&tick_lock);
        *code = 0;
        return 0;
    }
    int st;
    while (waitpid(p->pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    *code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return 0;
}

static void tb_detach(cri_stream_proc *p)
{
    pthread_mutex_lock(&tick_lock);
    for (size_t i = 0; i < n_attached; i++)
        if (attached[i] == p) {
            attached[i] = attached[--n_attached];
            break;
        }
    p->detached = 1;
    pthread_cond_broadcast(&tick_cond);
    pthread_mutex_unlock(&tick_lock);
}

static void tb_kill(cri_stream_proc *p)
{
    if (p->attach)
        tb_detach(p);
    else
        kill(-p->pid, SIGKILL); /* the whole session the command started */
}

static void tb_release(cri_stream_proc *p)
{
    if (p->attach) {
        tb_detach(p);
        close(p->out_w);
    }
    if (p->master >= 0)
        close(p->master);
    free(p);
}

static int tb_port_forward(void *ctx, const char *sandbox, int port, int *fd, wc_err *err)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
        int e = errno;
        if (s >= 0)
            close(s);
        return wc_err_sys(err, WC_UNAVAILABLE, e, "connect to 127.0.0.1:%d", port);
    }
    *fd = s;
    return 0;
}

/* ---- control loop ---- */

static void answer(json_t *j)
{
    char *t = json_dumps(j, JSON_COMPACT);
    printf("%s\n", t);
    fflush(stdout);
    free(t);
    json_decref(j);
}

static void handle(cri_streaming *srv, const char *line)
{
    json_t *in = json_loads(line, 0, NULL);
    if (!in) {
        answer(json_pack("{s:s,s:i}", "error", "bad json", "code", 3));
        return;
    }
    const char *kind = json_string_value(json_object_get(in, "kind"));
    cri_stream_request r = {
        .kind = kind && !strcmp(kind, "attach")        ? CRI_STREAM_ATTACH
                : kind && !strcmp(kind, "portforward") ? CRI_STREAM_PORTFORWARD
                                                       : CRI_STREAM_EXEC,
        .id = json_string_value(json_object_get(in, "id")),
        .tty = json_is_true(json_object_get(in, "tty")),
        .want_stdin = json_is_true(json_object_get(in, "stdin")),
        .want_stdout = json_is_true(json_object_get(in, "stdout")),
        .want_stderr = json_is_true(json_object_get(in, "stderr")),
    };
    json_t *cmd = json_object_get(in, "cmd"), *ports = json_object_get(in, "ports");
    const char *argv[64];
    int pv[16];
    for (size_t i = 0; i < json_array_size(cmd) && i < 64; i++)
        argv[r.n_cmd++] = json_string_value(json_array_get(cmd, i));
    for (size_t i = 0; i < json_array_size(ports) && i < 16; i++)
        pv[r.n_ports++] = (int)json_integer_value(json_array_get(ports, i));
    r.cmd = argv;
    r.ports = pv;
    char *url = NULL;
    wc_err e = {0};
    if (cri_streaming_url(srv, &r, &url, &e) < 0)
        answer(json_pack("{s:s,s:i}", "error", e.msg, "code", e.code));
    else
        answer(json_pack("{s:s}", "url", url));
    free(url);
    json_decref(in);
}

int main(int argc, char **argv)
{
    cri_streaming_opts o = {0};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--ttl-ms"))
            o.token_ttl_ms = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--port"))
            o.port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--tls-cert"))
            o.tls_cert = argv[i + 1];
        else if (!strcmp(argv[i], "--tls-key"))
            o.tls_key = argv[i + 1];
    }
    cri_stream_backend be = {.exec = tb_exec,
                             .attach = tb_attach,
                             .resize = tb_resize,
                             .wait = tb_wait,
                             .kill = tb_kill,
                             .release = tb_release,
                             .port_forward = tb_port_forward};
    cri_streaming *srv;
    wc_err e = {0};
    if (cri_streaming_start_opts(&o, &be, &srv, &e) < 0) {
        fprintf(stderr, "stream_testd: %s\n", e.msg);
        return 1;
    }
    answer(json_pack("{s:s,s:i}", "base", cri_streaming_base_url(srv), "pid", (int)getpid()));
    char line[65536];
    while (fgets(line, sizeof line, stdin))
        handle(srv, line);
    cri_streaming_stop(srv);
    if (ticker_pid > 0) {
        kill(ticker_pid, SIGKILL);
        waitpid(ticker_pid, NULL, 0);
    }
    return 0;
}
