#!/bin/sh
# Runs unit test binaries one after the other and stops at the first that fails (`make unit`).
# With a case filter (CMOCKA_TEST_FILTER, `make unit CASE=...`) a binary with no matching
# case is passed over quietly, and a filter that matches no case anywhere is an error.
filter=${CMOCKA_TEST_FILTER:-}
matched=0
for t in "$@"; do
    if [ -z "$filter" ]; then
        echo "== $t"
        "$t" || exit $?
        continue
    fi
    out=$("$t" 2>&1)
    rc=$?
    case "$out" in
    *"Running 0 test(s)."*) [ $rc -eq 0 ] && continue ;;
    esac
    matched=1
    echo "== $t"
    printf '%s\n' "$out"
    [ $rc -eq 0 ] || exit $rc
done
if [ -n "$filter" ] && [ $matched -eq 0 ]; then
    echo "unit: no case matches '$filter' in: $*" >&2
    exit 1
fi
