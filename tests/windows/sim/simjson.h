/* winsim: a small JSON reader and writer for the test doubles (they are built with mingw
 * alone, without the project's cross-built Jansson). Test code: enough for HCS/HCN documents
 * and the doubles' own wire format, nothing more. */
#ifndef WINSIM_SIMJSON_H
#define WINSIM_SIMJSON_H

#include <stdarg.h>
#include <stddef.h>

typedef enum { SJ_NULL, SJ_BOOL, SJ_NUM, SJ_STR, SJ_ARR, SJ_OBJ } sj_type;

typedef struct sj {
    sj_type type;
    int b;
    double num;
    long long i; /* num as an integer when it had no fraction */
    char *s;     /* SJ_STR */
    size_t n;    /* children (SJ_ARR, SJ_OBJ) */
    char **keys; /* SJ_OBJ */
    struct sj **kids;
} sj;

sj *sj_parse(const char *text); /* NULL when text is not one JSON value */
void sj_free(sj *v);
sj *sj_get(const sj *obj, const char *key);  /* case-sensitive; NULL when absent */
sj *sj_geti(const sj *obj, const char *key); /* case-insensitive (HCS matches that way) */
const char *sj_str(const sj *v);             /* NULL unless a string */
long long sj_int(const sj *v, long long dflt);
int sj_bool(const sj *v, int dflt);
sj *sj_at(const sj *arr, size_t i);
/* sj_get_path(doc, "Container", "Storage", "Path", NULL) */
sj *sj_path(const sj *v, ...);

/* A growing string for building documents. */
typedef struct sb {
    char *p;
    size_t n, cap;
} sb;
void sb_add(sb *b, const char *s);
void sb_addn(sb *b, const char *s, size_t n);
void sb_addf(sb *b, const char *fmt, ...) __attribute__((format(gnu_printf, 2, 3)));
void sb_qstr(sb *b, const char *s); /* "s" with JSON escapes; null → null */
void sb_json(sb *b, const sj *v);   /* compact serialisation */
char *sb_take(sb *b);               /* the string (never NULL); b is reset */

#endif
