#include "cri/cli.h"

#include <stdio.h>
#include <string.h>

#include "common/config.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: wincrid [OPTIONS]\n"
            "       wincrid service install|uninstall|start|stop|status   (Windows; see\n"
            "                                                  wincrid service --help)\n"
            "\n"
            "wincri: a Kubernetes CRI (runtime.v1) runtime for Windows nodes, with a Linux\n"
            "host backend (runc, network namespaces, CNI).\n"
            "\n"
            "Options:\n"
            "  --config FILE           JSON config laid over the embedded defaults\n"
            "  --listen ENDPOINT       unix:///PATH, tcp://HOST:PORT or npipe:////./pipe/NAME\n"
            "  --log-level LEVEL       debug, info, warn or error\n"
            "  --print-default-config  print the embedded defaults and exit\n"
            "  --check-config          check the config (defaults + --config FILE) and exit\n"
            "  --console               Windows: run in the foreground, not as a service\n"
            "  --version               print the version and exit\n"
            "  --help                  print this help and exit\n");
}

/* Accepts "--opt VALUE" and "--opt=VALUE". */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

/* Loads the config the daemon would run with and says whether it is usable. */
static cli_action check_config(const char *path)
{
    wc_config *cfg = NULL;
    wc_err err = {0};
    if (wc_config_load(path, &cfg, &err) < 0) {
        fprintf(stderr, "wincrid: bad config: %s\n", err.msg);
        return CLI_EXIT_BAD_CONFIG;
    }
    printf("config ok: %s\n", cfg->source);
    wc_config_free(cfg);
    return CLI_EXIT_OK;
}

cli_action wc_cli_parse(int argc, char **argv, wc_daemon_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    int check = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("wincrid %s (%s), CRI runtime.v1\n", WINCRI_VERSION, WINCRI_GIT_REV);
            return CLI_EXIT_OK;
        } else if (strcmp(argv[i], "--print-default-config") == 0) {
            fputs(wc_config_default_text(), stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(argv[i], "--console") == 0) {
            opts->console = 1;
        } else if (strcmp(argv[i], "--check-config") == 0) {
            check = 1;
        } else if ((v = option_value(argc, argv, &i, "--config"))) {
            opts->config_path = v;
        } else if ((v = option_value(argc, argv, &i, "--listen"))) {
            opts->listen = v;
        } else if ((v = option_value(argc, argv, &i, "--log-level"))) {
            opts->log_level = v;
        } else {
            fprintf(stderr, "wincrid: unknown or incomplete option %s\n\n", argv[i]);
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    return check ? check_config(opts->config_path) : CLI_RUN;
}
