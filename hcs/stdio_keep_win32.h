/* Windows only, beside runtime.h: the init's std pipes for the stdio keeper. HCS makes a
 * process's std pipes when it creates the process, so the ends that must outlive wincrid
 * (the keeper holds them) exist only after hcs_start. Called before hcs_start, hcs_keep_std
 * makes the backend keep the init's pipes instead of pumping them into the ones
 * hcs_open_output reads; after it, hcs_take_std hands them over once (std[0] stdin, std[1]
 * stdout, std[2] stderr; NULL where the container has none). */
#ifndef WINCRI_HCS_STDIO_KEEP_WIN32_H
#define WINCRI_HCS_STDIO_KEEP_WIN32_H

#include "hcs/runtime.h"

int hcs_keep_std(hcs_runtime *rt, const char *id, wc_err *err);
int hcs_take_std(hcs_runtime *rt, const char *id, void *std[3], wc_err *err);

#endif
