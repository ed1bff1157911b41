/* Registry authentication helpers: WWW-Authenticate challenges, basic credentials, token
 * server answers. Pure functions; the flow itself is in registry.c. */
#include "image/img_internal.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void img_challenge_clear(img_challenge *c)
{
    free(c->realm);
    free(c->service);
    free(c->scope);
    free(c->error);
    memset(c, 0, sizeof *c);
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == ',')
        p++;
    return p;
}

/* Reads a token or a quoted string (with backslash escapes) into a malloc'd value. */
static const char *read_value(const char *p, char **out)
{
    size_t cap = strlen(p) + 1, n = 0;
    char *v = wc_xmalloc(cap);
    if (*p == '"') {
        p++;
        while (*p && *p != '"') {
            if (*p == '\\' && p[1])
                p++;
            v[n++] = *p++;
        }
        if (*p == '"')
            p++;
    } else {
        while (*p && *p != ',' && *p != ' ' && *p != '\t')
            v[n++] = *p++;
    }
    v[n] = '\0';
    *out = v;
    return p;
}

static void set_param(img_challenge *c, const char *key, size_t klen, char *val)
{
    char **slot = NULL;
    if (klen == 5 && strncasecmp(key, "realm", 5) == 0)
        slot = &c->realm;
    else if (klen == 7 && strncasecmp(key, "service", 7) == 0)
        slot = &c->service;
    else if (klen == 5 && strncasecmp(key, "scope", 5) == 0)
        slot = &c->scope;
    else if (klen == 5 && strncasecmp(key, "error", 5) == 0)
        slot = &c->error;
    if (slot) {
        free(*slot);
        *slot = val;
    } else {
        free(val);
    }
}

/* Parses one challenge starting at p into c; returns where the next one starts. */
static const char *parse_one(const char *p, img_challenge *c)
{
    const char *scheme = p;
    while (*p && !isspace((unsigned char)*p) && *p != ',')
        p++;
    snprintf(c->scheme, sizeof c->scheme, "%.*s", (int)(p - scheme), scheme);
    for (;;) {
        p = skip_ws(p);
        const char *key = p;
        while (*p && *p != '=' && *p != ' ' && *p != ',')
            p++;
        if (*p != '=') {
            /* Not a parameter: the next challenge's scheme (or the end). */
            return key;
        }
        size_t klen = (size_t)(p - key);
        char *val = NULL;
        p = read_value(p + 1, &val);
        set_param(c, key, klen, val);
    }
}

int img_challenge_parse(const char *header, img_challenge *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    if (!header || !*skip_ws(header))
        return wc_err_set(err, WC_UNAUTHENTICATED, "empty WWW-Authenticate challenge");
    const char *p = skip_ws(header);
    int have = 0;
    while (*p) {
        img_challenge c = {0};
        const char *next = parse_one(p, &c);
        int better = !have || (strcasecmp(c.scheme, "Bearer") == 0 &&
                               strcasecmp(out->scheme, "Bearer") != 0);
        if (better && (strcasecmp(c.scheme, "Bearer") == 0 || strcasecmp(c.scheme, "Basic") == 0)) {
            img_challenge_clear(out);
            *out = c;
            have = 1;
        } else {
            img_challenge_clear(&c);
        }
        if (next == p)
            break;
        p = skip_ws(next);
    }
    if (!have)
        return wc_err_set(err, WC_UNAUTHENTICATED,
                          "WWW-Authenticate \"%.200s\" offers neither Bearer nor Basic", header);
    if (strcasecmp(out->scheme, "Bearer") == 0 && (!out->realm || !*out->realm)) {
        img_challenge_clear(out);
        return wc_err_set(err, WC_UNAUTHENTICATED,
                          "WWW-Authenticate \"%.200s\": Bearer challenge without a realm", header);
    }
    return 0;
}

char *img_base64(const void *p, size_t n)
{
    char *out = wc_xmalloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

int img_auth_decode(const char *b64, char **user, char **pass, wc_err *err)
{
    *user = *pass = NULL;
    size_t n = strlen(b64);
    while (n && isspace((unsigned char)b64[n - 1]))
        n--;
    if (n == 0 || n % 4 != 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "auth is not base64 of user:password");
    unsigned char *buf = wc_xmalloc(n / 4 * 3 + 1);
    int len = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n);
    if (len < 0) {
        free(buf);
        return wc_err_set(err, WC_INVALID_ARGUMENT, "auth is not valid base64");
    }
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    if (n >= 1 && b64[n - 1] == '=')
        len--;
    if (n >= 2 && b64[n - 2] == '=')
        len--;
    buf[len] = '\0';
    char *colon = memchr(buf, ':', (size_t)len);
    if (!colon || colon == (char *)buf || memchr(buf, '\0', (size_t)len)) {
        free(buf);
        return wc_err_set(err, WC_INVALID_ARGUMENT, "auth does not decode to user:password");
    }
    *colon = '\0';
    *user = wc_xstrdup((char *)buf);
    *pass = wc_xstrdup(colon + 1);
    free(buf);
    return 0;
}

int img_token_parse(const char *body, char **token, int64_t *expires_in, wc_err *err)
{
    *token = NULL;
    *expires_in = 60;
    json_t *doc = json_loads(body, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return wc_err_set(err, WC_UNAUTHENTICATED, "token server answer is not a JSON object");
    }
    const char *t = json_string_value(json_object_get(doc, "token"));
    if (!t || !*t)
        t = json_string_value(json_object_get(doc, "access_token"));
    json_t *exp = json_object_get(doc, "expires_in");
    if (json_is_integer(exp) && json_integer_value(exp) > 0)
        *expires_in = json_integer_value(exp);
    if (t && *t)
        *token = wc_xstrdup(t);
    json_decref(doc);
    if (!*token)
        return wc_err_set(err, WC_UNAUTHENTICATED,
                          "token server answer has neither token nor access_token");
    return 0;
}

char *img_token_query(const img_challenge *ch, const char *scope, int form)
{
    char *svc = img_url_escape(ch->service ? ch->service : "");
    char *sc = img_url_escape(scope);
    size_t n = strlen(ch->realm) + strlen(svc) + strlen(sc) + 64;
    char *q = wc_xmalloc(n);
    if (form)
        snprintf(q, n, "service=%s&scope=%s&client_id=wincri", svc, sc);
    else
        snprintf(q, n, "%s%sservice=%s&scope=%s", ch->realm, strchr(ch->realm, '?') ? "&" : "?",
                 svc, sc);
    free(svc);
    free(sc);
    return q;
}

char *img_url_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = wc_xmalloc(strlen(s) * 3 + 1), *o = out;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (isalnum(*c) || *c == '-' || *c == '_' || *c == '.' || *c == '~') {
            *o++ = (char)*c;
        } else {
            *o++ = '%';
            *o++ = hex[*c >> 4];
            *o++ = hex[*c & 15];
        }
    }
    *o = '\0';
    return out;
}
