#include "common/jsonpos.h"

#include <string.h>

typedef struct {
    const char *p;
    int line;
    int col;
} cursor;

static void advance(cursor *c)
{
    if (*c->p == '\n') {
        c->line++;
        c->col = 1;
    } else {
        c->col++;
    }
    c->p++;
}

static void skip_space(cursor *c)
{
    while (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')
        advance(c);
}

/* Reads a string token; copies it (unescaped only for plain characters) into buf. */
static int read_string(cursor *c, char *buf, size_t cap)
{
    if (*c->p != '"')
        return -1;
    advance(c);
    size_t n = 0;
    while (*c->p && *c->p != '"') {
        if (*c->p == '\\') {
            advance(c);
            if (!*c->p)
                return -1;
        }
        if (buf && n + 1 < cap)
            buf[n++] = *c->p;
        advance(c);
    }
    if (*c->p != '"')
        return -1;
    advance(c);
    if (buf)
        buf[n] = '\0';
    return 0;
}

static int skip_value(cursor *c);

static int skip_container(cursor *c, char open, char close)
{
    if (*c->p != open)
        return -1;
    advance(c);
    for (;;) {
        skip_space(c);
        if (*c->p == close) {
            advance(c);
            return 0;
        }
        if (open == '{') {
            if (read_string(c, NULL, 0) < 0)
                return -1;
            skip_space(c);
            if (*c->p != ':')
                return -1;
            advance(c);
        }
        if (skip_value(c) < 0)
            return -1;
        skip_space(c);
        if (*c->p == ',')
            advance(c);
        else if (*c->p != close)
            return -1;
    }
}

static int skip_value(cursor *c)
{
    skip_space(c);
    switch (*c->p) {
    case '{':
        return skip_container(c, '{', '}');
    case '[':
        return skip_container(c, '[', ']');
    case '"':
        return read_string(c, NULL, 0);
    case '\0':
        return -1;
    default:
        while (*c->p && !strchr(",}] \t\r\n", *c->p))
            advance(c);
        return 0;
    }
}

int wc_json_locate(const char *text, const char *const *path, size_t depth, int want_key, int *line,
                   int *column)
{
    cursor c = {text, 1, 1};
    skip_space(&c);
    for (size_t level = 0; level < depth; level++) {
        if (*c.p != '{')
            return -1;
        advance(&c);
        int found = 0;
        while (!found) {
            skip_space(&c);
            if (*c.p == '}' || !*c.p)
                return -1;
            cursor key_at = c;
            char key[256];
            if (read_string(&c, key, sizeof key) < 0)
                return -1;
            skip_space(&c);
            if (*c.p != ':')
                return -1;
            advance(&c);
            skip_space(&c);
            if (strcmp(key, path[level]) == 0) {
                found = 1;
                if (want_key && level + 1 == depth) {
                    *line = key_at.line;
                    *column = key_at.col;
                    return 0;
                }
            } else {
                if (skip_value(&c) < 0)
                    return -1;
                skip_space(&c);
                if (*c.p == ',')
                    advance(&c);
            }
        }
    }
    *line = c.line;
    *column = c.col;
    return 0;
}
