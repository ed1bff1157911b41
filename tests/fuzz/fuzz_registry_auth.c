/* What a registry and its token server say to the puller (image/auth.c, as registry.c's
 * authorize step uses it): the WWW-Authenticate challenge of a 401, the token request built
 * from it, the token server's answer, and the base64 credentials of a CRI AuthConfig.
 * Input: parts separated by "\n--\n": challenge, token answer, base64 auth. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "image/img_internal.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}

/* %-encoded text: nothing that could end a query value or a header. */
static int encoded(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) ||
                !isxdigit((unsigned char)s[i + 2]))
                return 0;
            i += 2;
        } else if (!isalnum(c) && !strchr("-_.~", c)) {
            return 0;
        }
    }
    return 1;
}

/* Each value of "k=v&k=v" is %-encoded. */
static void check_query(const char *q)
{
    for (const char *p = q; *p;) {
        const char *eq = strchr(p, '=');
        if (!eq)
            abort();
        const char *amp = strchr(eq, '&');
        size_t n = amp ? (size_t)(amp - eq - 1) : strlen(eq + 1);
        if (!encoded(eq + 1, n))
            abort();
        p = amp ? amp + 1 : eq + 1 + n;
    }
}

static void challenge(const char *header)
{
    img_challenge ch;
    wc_err err = {0};
    if (img_challenge_parse(header, &ch, &err) < 0) {
        if (err.code != WC_UNAUTHENTICATED)
            abort();
        return;
    }
    int bearer = strcasecmp(ch.scheme, "Bearer") == 0;
    if (!bearer && strcasecmp(ch.scheme, "Basic") != 0)
        abort();
    if (bearer) {
        if (!ch.realm || !*ch.realm)
            abort();
        const char *scope = ch.scope && *ch.scope ? ch.scope : "repository:fuzz/image:pull";
        char *form = img_token_query(&ch, scope, 1);
        check_query(form);
        free(form);
        char *url = img_token_query(&ch, scope, 0);
        if (strncmp(url, ch.realm, strlen(ch.realm)) != 0)
            abort();
        const char *q = url + strlen(ch.realm); /* "?service=..." or "&service=..." */
        if (*q != '?' && *q != '&')
            abort();
        check_query(q + 1);
        free(url);
    }
    img_challenge_clear(&ch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    char *header = fuzz_part(&in, NULL), *body = fuzz_part(&in, NULL), *b64 = fuzz_part(&in, NULL);
    wc_err err = {0};
    if (header)
        challenge(header);
    if (body) {
        char *token = NULL;
        int64_t expires = 0;
        if (img_token_parse(body, &token, &expires, &err) == 0 &&
            (!token || !*token || expires <= 0))
            abort();
        free(token);
    }
    if (b64) {
        char *user = NULL, *pass = NULL;
        if (img_auth_decode(b64, &user, &pass, &err) == 0) {
            if (!*user || strchr(user, ':'))
                abort();
            /* What wincri sends as Basic credentials decodes to the same pair. */
            size_t n = strlen(user) + strlen(pass) + 1;
            char *up = malloc(n + 1);
            memcpy(up, user, strlen(user));
            up[strlen(user)] = ':';
            memcpy(up + strlen(user) + 1, pass, strlen(pass) + 1);
            char *enc = img_base64(up, n);
            char *u2 = NULL, *p2 = NULL;
            if (img_auth_decode(enc, &u2, &p2, &err) < 0 || strcmp(u2, user) != 0 ||
                strcmp(p2, pass) != 0)
                abort();
            free(u2);
            free(p2);
            free(enc);
            free(up);
        }
        free(user);
        free(pass);
        char *esc = img_url_escape(b64);
        if (!encoded(esc, strlen(esc)))
            abort();
        free(esc);
    }
    free(header);
    free(body);
    free(b64);
    return 0;
}
