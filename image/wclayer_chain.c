/* Reading layerchain.json (Jansson). */
#include "image/wclayer.h"
#include "common/xalloc.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

void img_wcl_paths_free(char **paths, size_t n)
{
    for (size_t i = 0; paths && i < n; i++)
        free(paths[i]);
    free(paths);
}

int img_wcl_layerchain_parse(const char *text, char ***paths, size_t *n, wc_err *err)
{
    *paths = NULL;
    *n = 0;
    if (!text || text[strspn(text, " \t\r\n")] == '\0')
        return 0;
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    if (json_is_null(j)) {
        json_decref(j);
        return 0;
    }
    if (!json_is_array(j)) {
        json_decref(j);
        return wc_err_set(err, WC_DATA_LOSS, "layerchain.json is not a JSON array%s%s",
                          j ? "" : ": ", j ? "" : je.text);
    }
    size_t cnt = json_array_size(j);
    char **out = wc_xcalloc(cnt ? cnt : 1, sizeof *out);
    for (size_t i = 0; i < cnt; i++) {
        const char *s = json_string_value(json_array_get(j, i));
        if (!s || !*s) {
            img_wcl_paths_free(out, i);
            json_decref(j);
            return wc_err_set(err, WC_DATA_LOSS, "layerchain.json entry %zu is not a path", i);
        }
        out[i] = wc_xmalloc(strlen(s) + 1);
        strcpy(out[i], s);
    }
    json_decref(j);
    *paths = out;
    *n = cnt;
    return 0;
}
