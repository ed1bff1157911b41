#!/usr/bin/env bash
# The whole test suite: unit tests under ASan/UBSan and again under valgrind, the Windows
# build (wincrid.exe, run under wine by tests/windows), formatting, the end-to-end tests
# against a sanitized wincrid, and the Windows document and wine tests. Run as root.
# Each stage prints its wall time, and a table of them ends the run, whether it passed or not.
set -euo pipefail
cd "$(dirname "$0")/.."

# `stage NAME` ends the stage running (it passed) and starts NAME; the EXIT trap ends the last
# one, passed or failed by the exit status, and prints the table.
stage_rows=()
stage_name=""
now_us() { echo "${EPOCHREALTIME//[!0-9]/}"; }
secs() { printf '%d.%d' $(($1 / 1000000)) $(($1 % 1000000 / 100000)); }
stage_end() {
    [ -n "$stage_name" ] || return 0
    local t
    t=$(secs $(($(now_us) - stage_t0)))
    stage_rows+=("$(printf '%-12s %8s s  %s' "$stage_name" "$t" "$1")")
    echo "=== stage $stage_name: $1, $t s"
    stage_name=""
}
stage() {
    stage_end ok
    stage_name=$1
    stage_t0=$(now_us)
    echo "=== stage $stage_name"
}
stage_summary() {
    local rc=$?
    [ $rc -eq 0 ] && stage_end ok || stage_end "FAILED (exit $rc)"
    echo
    echo "=== test stages (tests/run-all.sh)"
    printf '%-12s %10s  %s\n' stage "wall time" result
    printf '%s\n' "${stage_rows[@]}"
    printf '%-12s %8s s  %s\n' total "$(secs $(($(now_us) - run_t0)))" \
        "$([ $rc -eq 0 ] && echo passed || echo FAILED)"
}
run_t0=$(now_us)
trap stage_summary EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

jobs=$(nproc)
stage install
deploy/linux/install-deps.sh
stage build
make -j"$jobs" VARIANT=san all unit-build
stage unit
make -j"$jobs" VARIANT=san unit
stage valgrind
make -j"$jobs" valgrind
# wincrid.exe, linked against the mingw dependency cache (built once, ~20 min cold).
stage windows
make -j"$jobs" windows
stage format
make format-check
if grep -q '^fuzz-smoke:' Makefile; then
    stage fuzz-smoke
    make -j"$jobs" fuzz-smoke
fi

# pytest runs from Debian's python3: the one first on PATH may not see python3-grpcio.
stage pytest
dirs=(tests/e2e)
[ -d tests/windows ] && dirs+=(tests/windows)
WINCRID="$PWD/build/san/wincrid" /usr/bin/python3 -m pytest -q -p no:cacheprovider "${dirs[@]}" "$@"
