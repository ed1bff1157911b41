/* Process setup and input helpers for the libFuzzer targets (see fuzz.h). */
#include "tests/fuzz/fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

#define SEP "\n--\n"
#define SEP_LEN 4

void fuzz_init(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    wc_log_set_level(WC_LOG_ERROR);
    if (geteuid() == 0 && unshare(CLONE_NEWNET) < 0)
        fprintf(stderr, "fuzz: warning: no private network namespace: %s\n", strerror(errno));
}

/* ---- scratch directory in a read-only world ---- */

static char scratch[PATH_MAX];
static int tmp_parent_fd = -1; /* the host's /tmp, to remove our mount point at exit */
static char tmp_name[64];

static void remove_tmp_mountpoint(void)
{
    umount2(scratch, MNT_DETACH);
    if (tmp_parent_fd >= 0)
        unlinkat(tmp_parent_fd, tmp_name, AT_REMOVEDIR);
}

static void die(const char *what)
{
    fprintf(stderr, "fuzz: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Adds the real path of a directory to the list of those that stay writable. */
static void keep_writable(const char *path, char (*keep)[PATH_MAX], size_t *n)
{
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(path, real) || stat(real, &st) < 0 || !S_ISDIR(st.st_mode) || *n >= 4)
        return;
    for (size_t i = 0; i < *n; i++)
        if (strcmp(keep[i], real) == 0)
            return;
    snprintf(keep[(*n)++], PATH_MAX, "%s", real);
}

static int by_length(const void *a, const void *b)
{
    size_t la = strlen(a), lb = strlen(b);
    return la < lb ? -1 : la > lb;
}

static void sandbox(int argc, char **argv)
{
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        die("getcwd");
    if (unshare(CLONE_NEWNS) < 0)
        die("unshare(CLONE_NEWNS)");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        die("make mounts private");
    /* libFuzzer writes new inputs into the first corpus directory, crashes into the artifact
     * prefix (the current directory by default) and temporary files into TMPDIR. */
    char keep[4][PATH_MAX];
    size_t n_keep = 0;
    const char *artifacts = ".";
    char artifact_dir[PATH_MAX];
    int corpus_seen = 0;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "-artifact_prefix=", 17) == 0) {
            snprintf(artifact_dir, sizeof artifact_dir, "%s", argv[i] + 17);
            char *slash = strrchr(artifact_dir, '/');
            if (slash)
                slash[1] = '\0';
            else
                snprintf(artifact_dir, sizeof artifact_dir, ".");
            artifacts = artifact_dir;
        } else if (argv[i][0] != '-' && !corpus_seen) {
            struct stat st;
            if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
                corpus_seen = 1;
                keep_writable(argv[i], keep, &n_keep);
            }
        }
    }
    keep_writable(artifacts, keep, &n_keep);
    /* libFuzzer's own temporary files (-merge's control file) go to TMPDIR. */
    if (getenv("TMPDIR"))
        keep_writable(getenv("TMPDIR"), keep, &n_keep);
    /* Each becomes a mount of its own, parents before what lies inside them, so that it can
     * stay writable when the rest turns read-only. */
    qsort(keep, n_keep, sizeof keep[0], by_length);
    for (size_t i = 0; i < n_keep; i++)
        if (mount(keep[i], keep[i], NULL, MS_BIND, NULL) < 0)
            die("bind-mount a writable directory");
    struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY};
    if (mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &ro, sizeof ro) < 0)
        die("make every mount read-only");
    struct mount_attr rw = {.attr_clr = MOUNT_ATTR_RDONLY};
    for (size_t i = 0; i < n_keep; i++)
        if (mount_setattr(AT_FDCWD, keep[i], 0, &rw, sizeof rw) < 0)
            die("keep the corpus or artifact directory writable");
    if (mount("wincri-fuzz", scratch, "tmpfs", MS_NOSUID | MS_NODEV, "size=512m,mode=0700") < 0)
        die("mount the scratch tmpfs");
    /* The working directory still points into the mounts as they were: enter it again so
     * relative paths (corpus, artifacts, TMPDIR) see the writable ones. */
    if (chdir(cwd) < 0)
        die("re-enter the working directory");
}

const char *fuzz_scratch_dir(int argc, char **argv)
{
    if (scratch[0])
        return scratch;
    const char *env = getenv("FUZZ_SCRATCH");
    if (env && *env) {
        if (mkdir(env, 0700) < 0 && errno != EEXIST)
            die("create FUZZ_SCRATCH");
        if (!realpath(env, scratch))
            die("resolve FUZZ_SCRATCH");
    } else {
        snprintf(scratch, sizeof scratch, "/tmp/wincri-fuzz-XXXXXX");
        if (!mkdtemp(scratch))
            die("create a directory under /tmp");
        snprintf(tmp_name, sizeof tmp_name, "%s", scratch + 5);
        tmp_parent_fd = open("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);
        atexit(remove_tmp_mountpoint);
    }
    if (geteuid() == 0)
        sandbox(argc, argv);
    else
        fprintf(stderr, "fuzz: not root: writing into %s without a read-only sandbox\n", scratch);
    return scratch;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    if (ftw->level == 0)
        return 0;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void fuzz_wipe(const char *dir)
{
    /* Directories a layer made unreadable are still walked: root ignores modes. */
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- input slicing ---- */

uint8_t fuzz_byte(fuzz_in *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

char *fuzz_strndup(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

char *fuzz_part(fuzz_in *in, size_t *len)
{
    if (in->n == 0)
        return NULL;
    size_t k = 0;
    while (k + SEP_LEN <= in->n && memcmp(in->p + k, SEP, SEP_LEN) != 0)
        k++;
    if (k + SEP_LEN > in->n)
        k = in->n;
    char *s = fuzz_strndup(in->p, k);
    if (len)
        *len = k;
    size_t take = k + (k < in->n ? SEP_LEN : 0);
    in->p += take;
    in->n -= take;
    return s;
}
