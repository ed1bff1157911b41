#include "podsandbox/ocispec_common.h"

#include "common/annotations.h"

static void append_strings(json_t *arr, const json_t *from)
{
    size_t i;
    json_t *v;
    json_array_foreach(from, i, v)
    {
        if (json_is_string(v))
            json_array_append(arr, v);
    }
}

static void append_cstrings(json_t *arr, char **from, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(from[i]));
}

int pod_spec_args(const pod_container_config *cc, const json_t *image, json_t **args, wc_err *err)
{
    *args = json_array();
    if (cc->command.n > 0)
        append_cstrings(*args, cc->command.v, cc->command.n);
    else if (image)
        append_strings(*args, json_object_get(image, "Entrypoint"));
    if (cc->args.n > 0)
        append_cstrings(*args, cc->args.v, cc->args.n);
    else if (cc->command.n == 0 && image)
        append_strings(*args, json_object_get(image, "Cmd"));
    if (json_array_size(*args) == 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "no command specified and the image has none");
    return 0;
}

void pod_annotate_identity(json_t *a, const pod_sandbox_config *sb, const pod_container_config *cc,
                           const char *sandbox_id)
{
    json_object_set_new(a, WC_ANN_CONTAINER_TYPE, json_string("container"));
    if (sandbox_id && sandbox_id[0])
        json_object_set_new(a, WC_ANN_SANDBOX_ID, json_string(sandbox_id));
    if (cc->name[0])
        json_object_set_new(a, WC_ANN_CONTAINER_NAME, json_string(cc->name));
    if (sb) {
        json_object_set_new(a, WC_ANN_SANDBOX_NAME, json_string(sb->name));
        json_object_set_new(a, WC_ANN_SANDBOX_NAMESPACE, json_string(sb->namespace_));
        json_object_set_new(a, WC_ANN_SANDBOX_UID, json_string(sb->uid));
    }
    if (cc->image[0])
        json_object_set_new(a, WC_ANN_IMAGE_NAME, json_string(cc->image));
}

json_t *pod_spec_exec_base(const json_t *container_spec, const char *const *cmd, size_t n_cmd,
                           int tty)
{
    const json_t *src = container_spec ? json_object_get(container_spec, "process") : NULL;
    if (!json_is_object(src) || !cmd || n_cmd == 0)
        return NULL;
    json_t *p = json_deep_copy(src);
    json_t *args = json_array();
    for (size_t i = 0; i < n_cmd; i++)
        json_array_append_new(args, json_string(cmd[i]));
    json_object_set_new(p, "args", args);
    json_object_set_new(p, "terminal", json_boolean(tty));
    json_object_del(p, "consoleSize");
    return p;
}
