/* cmocka needs these before its header. */
#ifndef WINCRI_TESTUTIL_H
#define WINCRI_TESTUTIL_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#endif
