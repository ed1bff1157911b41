/* Small helpers for building HCS documents, runtime handlers and annotation passthrough. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hcs/hcsdoc_int.h"

void hd_set(json_t *obj, const char *key, json_t *value, int *fail)
{
    if (!value || json_object_set_new(obj, key, value) != 0)
        *fail = 1;
}

void hd_push(json_t *arr, json_t *value, int *fail)
{
    if (!value || json_array_append_new(arr, value) != 0)
        *fail = 1;
}

void hd_set_str(json_t *obj, const char *key, const char *s, int *fail)
{
    if (s && *s)
        hd_set(obj, key, json_string(s), fail);
}

void hd_set_true(json_t *obj, const char *key, int flag, int *fail)
{
    if (flag)
        hd_set(obj, key, json_true(), fail);
}

void hd_set_uint(json_t *obj, const char *key, uint64_t v, int *fail)
{
    if (v)
        hd_set(obj, key, json_integer((json_int_t)v), fail);
}

json_t *hd_schema_v21(void)
{
    return json_pack("{s:i,s:i}", "Major", 2, "Minor", 1);
}

int hd_build_failed(wc_err *err, const char *what)
{
    return wc_err_set(err, WC_INTERNAL, "building %s: a part could not be built", what);
}

const char *hd_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

json_t *hd_obj(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_object(v) ? v : NULL;
}

int hd_strcasecmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int ca = tolower((unsigned char)*a), cb = tolower((unsigned char)*b);
        if (ca != cb || !ca)
            return ca - cb;
    }
}

int hd_has_prefix_ci(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++)
        if (!*s || tolower((unsigned char)*s) != tolower((unsigned char)*prefix))
            return 0;
    return 1;
}

/* Parses a whole unsigned decimal string. */
static int parse_u64(const char *s, uint64_t *v)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *v = x;
    return 0;
}

int hd_annotation_u64(const json_t *spec, const char *key, uint64_t *v, wc_err *err)
{
    json_t *ann = hd_obj(spec, "annotations");
    json_t *val = json_object_get(ann, key);
    if (!val)
        return 0;
    if (!json_is_string(val) || parse_u64(json_string_value(val), v) != 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "annotation %s: expected an unsigned decimal number", key);
    return 1;
}

int hd_member_u64(const json_t *obj, const char *key, const char *where, uint64_t *v, wc_err *err)
{
    json_t *val = json_object_get(obj, key);
    if (!val || json_is_null(val))
        return 0;
    if (!json_is_integer(val) || json_integer_value(val) < 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "%s.%s: expected an unsigned integer", where,
                          key);
    *v = (uint64_t)json_integer_value(val);
    return 1;
}

int hcs_handler_isolation(const char *handler, hcs_isolation *out, wc_err *err)
{
    if (handler && strcmp(handler, HCS_HANDLER_PROCESS) == 0) {
        *out = HCS_ISOLATION_PROCESS;
        return 0;
    }
    if (handler && strcmp(handler, HCS_HANDLER_HYPERV) == 0) {
        *out = HCS_ISOLATION_HYPERV;
        return 0;
    }
    return wc_err_set(err, WC_INVALID_ARGUMENT,
                      "runtime handler \"%s\" is not a Windows handler (expected \"%s\" or \"%s\")",
                      handler ? handler : "", HCS_HANDLER_PROCESS, HCS_HANDLER_HYPERV);
}

int hcs_annotations_passthrough(const json_t *from, const char *handler, int pod, json_t *spec,
                                wc_err *err)
{
    hcs_isolation iso;
    if (hcs_handler_isolation(handler, &iso, err) != 0)
        return -1;
    if (!json_is_object(spec))
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "annotation passthrough: spec is not an object");
    if (!from)
        return 0;
    if (!json_is_object(from))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "annotations: expected an object");
    json_t *dst = json_object_get(spec, "annotations");
    if (!dst) {
        dst = json_object();
        json_object_set_new(spec, "annotations", dst);
    } else if (!json_is_object(dst)) {
        return wc_err_set(err, WC_INVALID_ARGUMENT, "spec.annotations: expected an object");
    }
    int copied = 0;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)from, key, val)
    {
        int allowed = strncmp(key, HCS_ANNOTATION_CONTAINER_PREFIX,
                              strlen(HCS_ANNOTATION_CONTAINER_PREFIX)) == 0 ||
                      strcmp(key, HCS_ANNOTATION_DUMP_TYPE) == 0;
        if (!allowed && pod && iso == HCS_ISOLATION_HYPERV)
            allowed =
                strncmp(key, HCS_ANNOTATION_UVM_PREFIX, strlen(HCS_ANNOTATION_UVM_PREFIX)) == 0;
        if (!allowed)
            continue;
        if (!json_is_string(val))
            return wc_err_set(err, WC_INVALID_ARGUMENT, "annotation %s: expected a string", key);
        json_object_set(dst, key, val);
        copied++;
    }
    return copied;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        *v = *v * 10 + (s[i] - '0');
    }
    return 0;
}

int hcs_parse_rfc3339(const char *s, int64_t *ns)
{
    int y, mo, d, h, mi, se;
    if (!s || strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
        s[7] != '-' || digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &se))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return -1;
    const char *p = s + 19;
    int64_t frac = 0;
    if (*p == '.') {
        int n = 0;
        for (p++; isdigit((unsigned char)*p); p++, n++)
            if (n < 9)
                frac = frac * 10 + (*p - '0');
        if (n == 0)
            return -1;
        for (; n < 9; n++)
            frac *= 10;
    }
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om))
            return -1;
        off = (int64_t)(oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    int64_t secs =
        days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se - off;
    *ns = secs * 1000000000 + frac;
    return 0;
}
