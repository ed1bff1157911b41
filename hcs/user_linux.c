/* Users named by name (CRI run_as_username, or an image User like "app" or "app:staff") are
 * resolved in the container's own /etc/passwd and /etc/group once its rootfs is mounted, the
 * way a container runtime must: the spec builder only knows the name. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hcs/runtime_linux.h"

#define USERNAME_ANNOTATION "io.wincri.username"

/* Opens rootfs/rel without leaving the rootfs: symlinks resolve as if rootfs were "/". */
static FILE *open_in_root(const char *rootfs, const char *rel)
{
    int dir = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return NULL;
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT};
    int fd = (int)syscall(SYS_openat2, dir, rel, &how, sizeof how);
    if (fd < 0 && errno == ENOSYS) /* old kernel: at least never follow a symlink */
        fd = openat(dir, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    close(dir);
    return fd < 0 ? NULL : fdopen(fd, "r");
}

/* Finds `name` (or a numeric id) in a passwd/group style file; fields 3 and 4 are the ids. */
static int lookup(const char *rootfs, const char *file, const char *name, long *id, long *gid)
{
    FILE *f = open_in_root(rootfs, file);
    if (!f)
        return -1;
    char line[1024];
    int found = -1;
    while (found < 0 && fgets(line, sizeof line, f)) {
        char *fields[4] = {0};
        char *save = NULL, *p = line;
        for (int i = 0; i < 4; i++, p = NULL)
            fields[i] = strtok_r(p, ":\n", &save);
        if (!fields[0] || !fields[2] || strcmp(fields[0], name) != 0)
            continue;
        *id = strtol(fields[2], NULL, 10);
        if (gid)
            *gid = fields[3] ? strtol(fields[3], NULL, 10) : 0;
        found = 0;
    }
    fclose(f);
    return found;
}

static int is_number(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

int hcs_resolve_username(const char *rootfs, json_t *spec, const char *id, wc_err *err)
{
    json_t *ann = json_object_get(spec, "annotations");
    const char *spec_name = json_string_value(json_object_get(ann, USERNAME_ANNOTATION));
    json_t *user = json_object_get(json_object_get(spec, "process"), "user");
    if (!spec_name || !user)
        return 0;
    char name[256];
    snprintf(name, sizeof name, "%s", spec_name);
    char *group = strchr(name, ':');
    if (group)
        *group++ = '\0';
    long uid = 0, gid = 0;
    if (is_number(name))
        uid = strtol(name, NULL, 10);
    else if (lookup(rootfs, "etc/passwd", name, &uid, &gid) < 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "container %s: user \"%s\" is not in the image's /etc/passwd", id, name);
    if (group && is_number(group))
        gid = strtol(group, NULL, 10);
    else if (group && lookup(rootfs, "etc/group", group, &gid, NULL) < 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "container %s: group \"%s\" is not in the image's /etc/group", id, group);
    json_object_set_new(user, "uid", json_integer(uid));
    /* An explicit run_as_group is already in the spec and wins over the passwd entry. */
    if (group || json_integer_value(json_object_get(user, "gid")) == 0)
        json_object_set_new(user, "gid", json_integer(gid));
    return 0;
}
