/* Command line shared by the platform entry points. */
#ifndef WINCRI_CRI_CLI_H
#define WINCRI_CRI_CLI_H

#include "cri/daemon.h"

typedef enum { CLI_RUN, CLI_EXIT_OK, CLI_EXIT_USAGE, CLI_EXIT_BAD_CONFIG } cli_action;

/* Parses argv into opts; prints help, version or defaults itself when asked. */
cli_action wc_cli_parse(int argc, char **argv, wc_daemon_opts *opts);

#endif
