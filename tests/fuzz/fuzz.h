/* Helpers shared by the libFuzzer targets (tests/fuzz/fuzz_*.c). Each target is one file
 * that defines LLVMFuzzerTestOneInput and feeds one parser of outside input; this header
 * gives them the process setup that keeps a fuzzer off the network and away from the
 * host's files, and a little input slicing. */
#ifndef WINCRI_TESTS_FUZZ_H
#define WINCRI_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Once per process, from LLVMFuzzerInitialize: logs only at error level, and (as root) the
 * process moves into a network namespace of its own with nothing in it, so that no target
 * can resolve or reach any host even by mistake. */
void fuzz_init(void);

/* For targets that write files (layer unpacking, the image store). Returns an empty
 * directory on a private tmpfs (FUZZ_SCRATCH names its mount point when set, else a
 * temporary directory under /tmp); every other mount is read-only for this process except
 * the first corpus directory and the artifact directory named in argv (and TMPDIR when
 * set), so whatever a
 * fuzzed layer manages to write outside its place fails instead of landing on the host.
 * Exits when running as root and that cannot be arranged. */
const char *fuzz_scratch_dir(int argc, char **argv);

/* Removes everything below dir, keeping dir. */
void fuzz_wipe(const char *dir);

/* A cursor over the input. */
typedef struct fuzz_in {
    const uint8_t *p;
    size_t n;
} fuzz_in;

/* The next byte (0 once the input is used up). */
uint8_t fuzz_byte(fuzz_in *in);
/* The next part: bytes up to the separator line "\n--\n" (taken off too) or to the end, as a
 * malloc'd NUL-terminated copy (*len without the NUL; NULL len allowed). NULL when the
 * input is used up. */
char *fuzz_part(fuzz_in *in, size_t *len);
/* NUL-terminated malloc'd copy of n bytes. */
char *fuzz_strndup(const void *p, size_t n);

#endif
