/* winsim JSON: recursive-descent reader, compact writer. */
#include "simjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct rd {
    const char *p;
    int depth;
} rd;

static void ws(rd *r)
{
    while (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')
        r->p++;
}

static sj *node(sj_type t)
{
    sj *v = calloc(1, sizeof *v);
    if (v)
        v->type = t;
    return v;
}

static void put_utf8(sb *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    sb_addn(b, u, n);
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static char *read_string(rd *r)
{
    if (*r->p != '"')
        return NULL;
    r->p++;
    sb b = {0};
    for (;;) {
        char c = *r->p++;
        if (c == '\0') {
            free(b.p);
            return NULL;
        }
        if (c == '"')
            break;
        if (c != '\\') {
            sb_addn(&b, &c, 1);
            continue;
        }
        char e = *r->p++;
        unsigned cp;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            sb_addn(&b, &e, 1);
            break;
        case 'b':
            sb_add(&b, "\b");
            break;
        case 'f':
            sb_add(&b, "\f");
            break;
        case 'n':
            sb_add(&b, "\n");
            break;
        case 'r':
            sb_add(&b, "\r");
            break;
        case 't':
            sb_add(&b, "\t");
            break;
        case 'u':
            if (hex4(r->p, &cp) < 0) {
                free(b.p);
                return NULL;
            }
            r->p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && r->p[0] == '\\' && r->p[1] == 'u') {
                unsigned lo;
                if (hex4(r->p + 2, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    r->p += 6;
                }
            }
            put_utf8(&b, cp);
            break;
        default:
            free(b.p);
            return NULL;
        }
    }
    return sb_take(&b);
}

static sj *read_value(rd *r);

static int append(sj *v, char *key, sj *kid)
{
    sj **kids = realloc(v->kids, (v->n + 1) * sizeof *kids);
    if (!kids)
        return -1;
    v->kids = kids;
    if (v->type == SJ_OBJ) {
        char **keys = realloc(v->keys, (v->n + 1) * sizeof *keys);
        if (!keys)
            return -1;
        v->keys = keys;
        v->keys[v->n] = key;
    }
    v->kids[v->n++] = kid;
    return 0;
}

static sj *read_container(rd *r, char open)
{
    sj *v = node(open == '{' ? SJ_OBJ : SJ_ARR);
    char close = open == '{' ? '}' : ']';
    r->p++;
    ws(r);
    if (*r->p == close) {
        r->p++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        ws(r);
        if (v->type == SJ_OBJ) {
            key = read_string(r);
            ws(r);
            if (!key || *r->p++ != ':') {
                free(key);
                sj_free(v);
                return NULL;
            }
        }
        sj *kid = read_value(r);
        if (!kid || append(v, key, kid) < 0) {
            free(key);
            sj_free(kid);
            sj_free(v);
            return NULL;
        }
        ws(r);
        if (*r->p == ',') {
            r->p++;
            continue;
        }
        if (*r->p == close) {
            r->p++;
            return v;
        }
        sj_free(v);
        return NULL;
    }
}

static sj *read_value(rd *r)
{
    ws(r);
    if (++r->depth > 64)
        return NULL;
    sj *v = NULL;
    char c = *r->p;
    if (c == '{' || c == '[') {
        v = read_container(r, c);
    } else if (c == '"') {
        char *s = read_string(r);
        if (s) {
            v = node(SJ_STR);
            v->s = s;
        }
    } else if (strncmp(r->p, "true", 4) == 0 || strncmp(r->p, "false", 5) == 0) {
        v = node(SJ_BOOL);
        v->b = c == 't';
        r->p += v->b ? 4 : 5;
    } else if (strncmp(r->p, "null", 4) == 0) {
        v = node(SJ_NULL);
        r->p += 4;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        char *end;
        double d = strtod(r->p, &end);
        if (end != r->p) {
            v = node(SJ_NUM);
            v->num = d;
            v->i = strtoll(r->p, NULL, 10);
            if (memchr(r->p, '.', (size_t)(end - r->p)) || memchr(r->p, 'e', (size_t)(end - r->p)))
                v->i = (long long)d;
            r->p = end;
        }
    }
    r->depth--;
    return v;
}

sj *sj_parse(const char *text)
{
    if (!text)
        return NULL;
    rd r = {text, 0};
    sj *v = read_value(&r);
    ws(&r);
    if (v && *r.p) {
        sj_free(v);
        return NULL;
    }
    return v;
}

void sj_free(sj *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        sj_free(v->kids[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->kids);
    free(v->keys);
    free(v->s);
    free(v);
}

sj *sj_get(const sj *obj, const char *key)
{
    if (!obj || obj->type != SJ_OBJ)
        return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return obj->kids[i];
    return NULL;
}

sj *sj_geti(const sj *obj, const char *key)
{
    if (!obj || obj->type != SJ_OBJ)
        return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (strcasecmp(obj->keys[i], key) == 0)
            return obj->kids[i];
    return NULL;
}

const char *sj_str(const sj *v)
{
    return v && v->type == SJ_STR ? v->s : NULL;
}

long long sj_int(const sj *v, long long dflt)
{
    return v && v->type == SJ_NUM ? v->i : dflt;
}

int sj_bool(const sj *v, int dflt)
{
    return v && v->type == SJ_BOOL ? v->b : dflt;
}

sj *sj_at(const sj *arr, size_t i)
{
    return arr && arr->type == SJ_ARR && i < arr->n ? arr->kids[i] : NULL;
}

sj *sj_path(const sj *v, ...)
{
    va_list ap;
    va_start(ap, v);
    const char *k;
    while (v && (k = va_arg(ap, const char *)) != NULL)
        v = sj_get(v, k);
    va_end(ap);
    return (sj *)v;
}

/* ---- writing ---- */

void sb_addn(sb *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            abort(); /* test code: out of memory is fatal */
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void sb_add(sb *b, const char *s)
{
    sb_addn(b, s, strlen(s));
}

void sb_addf(sb *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        sb_addn(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_addn(b, big, (size_t)n);
    free(big);
}

void sb_qstr(sb *b, const char *s)
{
    if (!s) {
        sb_add(b, "null");
        return;
    }
    sb_add(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            sb_addn(b, e, 2);
        } else if (*p == '\n') {
            sb_add(b, "\\n");
        } else if (*p == '\r') {
            sb_add(b, "\\r");
        } else if (*p == '\t') {
            sb_add(b, "\\t");
        } else if (*p < 0x20) {
            sb_addf(b, "\\u%04x", *p);
        } else {
            sb_addn(b, (const char *)p, 1);
        }
    }
    sb_add(b, "\"");
}

void sb_json(sb *b, const sj *v)
{
    if (!v) {
        sb_add(b, "null");
        return;
    }
    switch (v->type) {
    case SJ_NULL:
        sb_add(b, "null");
        break;
    case SJ_BOOL:
        sb_add(b, v->b ? "true" : "false");
        break;
    case SJ_NUM:
        if ((double)v->i == v->num)
            sb_addf(b, "%lld", v->i);
        else
            sb_addf(b, "%.17g", v->num);
        break;
    case SJ_STR:
        sb_qstr(b, v->s);
        break;
    case SJ_ARR:
    case SJ_OBJ:
        sb_add(b, v->type == SJ_ARR ? "[" : "{");
        for (size_t i = 0; i < v->n; i++) {
            if (i)
                sb_add(b, ",");
            if (v->type == SJ_OBJ) {
                sb_qstr(b, v->keys[i]);
                sb_add(b, ":");
            }
            sb_json(b, v->kids[i]);
        }
        sb_add(b, v->type == SJ_ARR ? "]" : "}");
        break;
    }
}

char *sb_take(sb *b)
{
    char *p = b->p ? b->p : strdup("");
    b->p = NULL;
    b->n = b->cap = 0;
    return p;
}
