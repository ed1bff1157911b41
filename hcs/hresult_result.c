/* Parsing of HCS ResultError documents into the project's error type. */
#include "hcs/hresult.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

/* Appends `s` to a bounded buffer, separated by `sep` when the buffer is not empty. */
static void append(char *buf, size_t size, const char *sep, const char *s)
{
    size_t len = strlen(buf);
    if (len + 1 >= size || !s || !*s)
        return;
    snprintf(buf + len, size - len, "%s%s", len ? sep : "", s);
}

int hcs_result_parse(const char *json, hcs_result *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    if (!json || !*json)
        return 0;
    json_error_t jerr;
    json_t *root = json_loads(json, 0, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return wc_err_set(err, WC_INTERNAL, "HCS result document is not a JSON object: %s",
                          root ? "wrong type" : jerr.text);
    }
    json_t *e = json_object_get(root, "Error");
    if (e) {
        if (!json_is_integer(e)) {
            json_decref(root);
            return wc_err_set(err, WC_INTERNAL, "HCS result document: \"Error\" is not an integer");
        }
        json_int_t v = json_integer_value(e);
        if (v < INT32_MIN || v > (json_int_t)UINT32_MAX) {
            json_decref(root);
            return wc_err_set(err, WC_INTERNAL,
                              "HCS result document: \"Error\" %lld is not a 32-bit HRESULT",
                              (long long)v);
        }
        out->error = v > INT32_MAX ? HCS_HR((uint32_t)v) : (hcs_hresult)v;
    }
    const char *m = json_string_value(json_object_get(root, "ErrorMessage"));
    if (m)
        snprintf(out->message, sizeof out->message, "%s", m);
    json_t *events = json_object_get(root, "ErrorEvents");
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        append(out->events, sizeof out->events, "; ",
               json_string_value(json_object_get(ev, "Message")));
    }
    json_decref(root);
    return 0;
}

int hcs_err_from_result(wc_err *err, hcs_hresult call_hr, const char *result_json,
                        const char *what_fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, what_fmt);
    vsnprintf(what, sizeof what, what_fmt, ap);
    va_end(ap);

    hcs_result res;
    wc_err perr = {0};
    int parsed = hcs_result_parse(result_json, &res, &perr) == 0;
    hcs_hresult hr = (parsed && res.error != 0) ? res.error : call_hr;

    char desc[512];
    hcs_hresult_describe(hr, desc, sizeof desc);
    char detail[1024] = "";
    if (parsed) {
        /* HCS often repeats its own description as ErrorMessage; keep only new text. */
        const char *known = hcs_hresult_message(hr);
        if (res.message[0] && !(known && strstr(res.message, known)))
            append(detail, sizeof detail, "", res.message);
        if (res.events[0]) {
            char ev[600];
            snprintf(ev, sizeof ev, "[%s]", res.events);
            append(detail, sizeof detail, " ", ev);
        }
    } else if (result_json && *result_json) {
        append(detail, sizeof detail, "", "(unparsable HCS result document)");
    }
    wc_err_set(err, hcs_hresult_code(hr) == WC_OK ? WC_INTERNAL : hcs_hresult_code(hr),
               "%s: %s%s%.700s", what, desc, detail[0] ? ": " : "", detail);
    err->sys = (long)hr;
    return -1;
}
