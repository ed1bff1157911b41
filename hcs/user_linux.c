/* The container's user, resolved in its own /etc/passwd and /etc/group once its rootfs is
 * mounted, as a container runtime must (the spec builder has no rootfs): a user named by name
 * gets its uid and primary group, a numeric uid gets the primary group its passwd entry
 * names, and unless the pod asked for the Strict supplemental-groups policy the groups that
 * list the user as a member are added to its supplementary groups (containerd's behaviour,
 * which kubelet's SupplementalGroupsPolicy=Merge describes). */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/annotations.h"
#include "hcs/runtime_linux.h"

#define NAME_MAX_LEN 256

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

static int is_number(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* One passwd or group line split at ':' (empty fields kept): name, x, id, gid-or-members. */
static int split_line(char *line, char *fields[4])
{
    line[strcspn(line, "\n")] = '\0';
    for (int i = 0; i < 4; i++) {
        fields[i] = line;
        char *colon = line ? strchr(line, ':') : NULL;
        if (colon)
            *colon = '\0';
        line = colon ? colon + 1 : NULL;
    }
    return fields[2] && is_number(fields[2]) ? 0 : -1;
}

typedef struct user_entry {
    char name[NAME_MAX_LEN];
    long id;
    long gid;
} user_entry;

/* Finds an entry by name, or by id when key is numeric. 0 found, -1 not. */
static int lookup(const char *rootfs, const char *file, const char *key, user_entry *out)
{
    FILE *f = open_in_root(rootfs, file);
    if (!f)
        return -1;
    char line[4096];
    int found = -1, by_id = is_number(key);
    while (found < 0 && fgets(line, sizeof line, f)) {
        char *fl[4];
        if (split_line(line, fl) < 0)
            continue;
        if (by_id ? strtol(fl[2], NULL, 10) != strtol(key, NULL, 10) : strcmp(fl[0], key) != 0)
            continue;
        snprintf(out->name, sizeof out->name, "%s", fl[0]);
        out->id = strtol(fl[2], NULL, 10);
        out->gid = fl[3] && is_number(fl[3]) ? strtol(fl[3], NULL, 10) : 0;
        found = 0;
    }
    fclose(f);
    return found;
}

static void add_gid(json_t *gids, long gid)
{
    size_t i;
    json_t *v;
    json_array_foreach(gids, i, v)
    {
        if (json_integer_value(v) == gid)
            return;
    }
    json_array_append_new(gids, json_integer(gid));
}

/* Adds every group of /etc/group whose member list names `user`. */
static void add_member_groups(const char *rootfs, const char *user, json_t *gids)
{
    FILE *f = open_in_root(rootfs, "etc/group");
    if (!f)
        return;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        char *fl[4];
        if (split_line(line, fl) < 0 || !fl[3])
            continue;
        char *save = NULL;
        for (char *m = strtok_r(fl[3], ",", &save); m; m = strtok_r(NULL, ",", &save))
            if (strcmp(m, user) == 0)
                add_gid(gids, strtol(fl[2], NULL, 10));
    }
    fclose(f);
}

int hcs_resolve_user(const char *rootfs, json_t *spec, const char *id, wc_err *err)
{
    json_t *ann = json_object_get(spec, "annotations");
    const char *spec_user = json_string_value(json_object_get(ann, WC_ANN_USER));
    json_t *user = json_object_get(json_object_get(spec, "process"), "user");
    if (!spec_user || !json_is_object(user))
        return 0;
    char name[NAME_MAX_LEN];
    snprintf(name, sizeof name, "%s", spec_user);
    char *group = strchr(name, ':');
    if (group)
        *group++ = '\0';
    user_entry pw = {.name = "", .id = 0, .gid = 0};
    int known = lookup(rootfs, "etc/passwd", name, &pw) == 0;
    if (!known && !is_number(name))
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "container %s: user \"%s\" is not in the image's /etc/passwd", id, name);
    long uid = known ? pw.id : strtol(name, NULL, 10);
    long gid = known ? pw.gid : 0;
    if (group) {
        user_entry gr;
        if (lookup(rootfs, "etc/group", group, &gr) == 0)
            gid = gr.id;
        else if (is_number(group))
            gid = strtol(group, NULL, 10);
        else
            return wc_err_set(err, WC_INVALID_ARGUMENT,
                              "container %s: group \"%s\" is not in the image's /etc/group", id,
                              group);
    }
    /* The primary group first, then the pod's supplemental groups, then the image's. */
    json_t *gids = json_array();
    add_gid(gids, gid);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(user, "additionalGids"), i, v)
    {
        add_gid(gids, (long)json_integer_value(v));
    }
    const char *policy = json_string_value(json_object_get(ann, WC_ANN_SUPPLEMENTAL_GROUPS_POLICY));
    if (known && !(policy && strcmp(policy, "Strict") == 0))
        add_member_groups(rootfs, pw.name, gids);
    json_object_set_new(user, "uid", json_integer(uid));
    json_object_set_new(user, "gid", json_integer(gid));
    json_object_set_new(user, "additionalGids", gids);
    return 0;
}
