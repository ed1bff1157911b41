/* Process documents: ProcessParameters (hcsshim internal/cmd/cmd.go Cmd.Start), the
 * HcsModifyProcess requests and signals (internal/hcs/process.go), and Windows argv quoting. */
#include <stdlib.h>
#include <string.h>

#include "hcs/hcsdoc_int.h"
#include "hcs/winstr.h"

/* process.args → a quoted command line. */
static int command_line(const json_t *process, char **out, wc_err *err)
{
    const char *cl = hd_str(process, "commandLine");
    if (cl && *cl) {
        *out = wc_xstrdup(cl);
        return 0;
    }
    json_t *args = json_object_get(process, "args");
    size_t n = json_array_size(args);
    if (n == 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "process: neither args nor commandLine is set; nothing to run");
    const char **argv = wc_xcalloc(n, sizeof *argv);
    for (size_t i = 0; i < n; i++) {
        argv[i] = json_string_value(json_array_get(args, i));
        if (!argv[i]) {
            free(argv);
            return wc_err_set(err, WC_INVALID_ARGUMENT, "process.args[%u]: expected a string",
                              (unsigned)i);
        }
    }
    *out = hcs_argv_join(argv, n);
    free(argv);
    return 0;
}

int hcs_doc_process(const json_t *process, const hcs_process_io *io, json_t **out, wc_err *err)
{
    *out = NULL;
    if (!json_is_object(process))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "process: expected an object");
    char *cl = NULL;
    if (command_line(process, &cl, err) != 0)
        return -1;
    int fail = 0;
    json_t *p = json_object();
    hd_set_str(p, "CommandLine", cl, &fail);
    free(cl);
    hd_set_str(p, "User", hd_str(hd_obj(process, "user"), "username"), &fail);
    hd_set_str(p, "WorkingDirectory", hd_str(process, "cwd"), &fail);
    int tty = json_is_true(json_object_get(process, "terminal"));
    hd_set_true(p, "EmulateConsole", tty, &fail);
    hd_set_true(p, "CreateStdInPipe", io && io->stdin_pipe, &fail);
    hd_set_true(p, "CreateStdOutPipe", io && io->stdout_pipe, &fail);
    hd_set_true(p, "CreateStdErrPipe", io && io->stderr_pipe, &fail);

    /* Environment: KEY=VALUE entries; hcsshim drops those with an empty value. */
    json_t *env = json_object();
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(process, "env"), i, e)
    {
        const char *kv = json_string_value(e);
        const char *eq = kv ? strchr(kv, '=') : NULL;
        if (!eq || eq == kv) {
            json_decref(env);
            json_decref(p);
            return wc_err_set(err, WC_INVALID_ARGUMENT, "process.env[%u]: expected KEY=VALUE",
                              (unsigned)i);
        }
        if (!eq[1])
            continue;
        if (json_object_setn_new(env, kv, (size_t)(eq - kv), json_string(eq + 1)) != 0)
            fail = 1;
    }
    hd_set(p, "Environment", env, &fail);

    json_t *cs = hd_obj(process, "consoleSize");
    if (tty && cs) {
        uint64_t h = 0, w = 0;
        if (hd_member_u64(cs, "height", "process.consoleSize", &h, err) < 0 ||
            hd_member_u64(cs, "width", "process.consoleSize", &w, err) < 0 || h > 0xFFFF ||
            w > 0xFFFF) {
            json_decref(p);
            if (h > 0xFFFF || w > 0xFFFF)
                return wc_err_set(err, WC_INVALID_ARGUMENT,
                                  "process.consoleSize: %llux%llu is too large",
                                  (unsigned long long)w, (unsigned long long)h);
            return -1;
        }
        hd_set(p, "ConsoleSize", json_pack("[I,I]", (json_int_t)h, (json_int_t)w), &fail);
    }
    if (fail) {
        json_decref(p);
        return hd_build_failed(err, "process parameters");
    }
    *out = p;
    return 0;
}

json_t *hcs_doc_process_resize(uint16_t width, uint16_t height)
{
    return json_pack("{s:s,s:{s:i,s:i}}", "Operation", "ConsoleSize", "ConsoleSize", "Height",
                     (int)height, "Width", (int)width);
}

json_t *hcs_doc_process_close_stdin(void)
{
    return json_pack("{s:s,s:{s:s}}", "Operation", "CloseHandle", "CloseHandle", "Handle", "StdIn");
}

json_t *hcs_doc_signal(hcs_signal sig)
{
    static const char *const names[] = {"CtrlC", "CtrlBreak", "CtrlClose", "CtrlLogOff",
                                        "CtrlShutdown"};
    if ((unsigned)sig >= sizeof names / sizeof names[0])
        return NULL;
    return json_pack("{s:s}", "Signal", names[sig]);
}

int hcs_signal_from_posix(int signo, hcs_signal *out, wc_err *err)
{
    switch (signo) {
    case 2: /* SIGINT */
        *out = HCS_SIGNAL_CTRL_C;
        return 0;
    case 15: /* SIGTERM */
        *out = HCS_SIGNAL_CTRL_SHUTDOWN;
        return 0;
    case 21: /* SIGBREAK in the Windows C runtime */
        *out = HCS_SIGNAL_CTRL_BREAK;
        return 0;
    case 9: /* SIGKILL */
        return 1;
    default:
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "signal %d has no Windows equivalent (use SIGINT, SIGTERM or SIGKILL)",
                          signo);
    }
}
