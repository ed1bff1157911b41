#!/usr/bin/env bash
# The whole test suite: unit tests under ASan/UBSan and again under valgrind, the Windows
# build (wincrid.exe, run under wine by tests/windows), formatting, a short run of every
# libFuzzer target, the end-to-end tests against a sanitized wincrid, the Windows document
# and wine tests, the deploy manifests against the Kubernetes API schema, and wincrid.exe end
# to end on the simulated Windows host (make windows-e2e). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

# Stage timings: each stage prints its wall time, and a table of them ends the run, passed
# or not. `stage NAME` ends the stage running (it passed) and starts NAME. Every `make` line
# below is a stage of its own, named after its goals (`make format-check` is the stage
# format-check), unless a `stage` line right before it names it. The EXIT trap ends the last
# stage, passed or failed by the exit status, and prints the table.
stage_rows=()
stage_name=""
stage_line=-2
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
    stage_line=${BASH_LINENO[0]}
    stage_t0=$(now_us)
    echo "=== stage $stage_name"
}
make() {
    local goals=() a
    for a in "$@"; do
        case "$a" in -* | *=*) ;; *) goals+=("$a") ;; esac
    done
    [ "${BASH_LINENO[0]}" -eq $((stage_line + 1)) ] || stage "${goals[*]:-all}"
    stage_line=-2
    command make "$@"
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
make -j"$jobs" VARIANT=san unit
make -j"$jobs" valgrind
# wincrid.exe, linked against the mingw dependency cache (built once, ~20 min cold).
make -j"$jobs" windows
make format-check
stage fuzz
# Every fuzz target for FUZZ_SMOKE_SECONDS (10 s by default), from its seeds and what
# earlier runs found; `make fuzz` is the long run.
make -j"$jobs" fuzz-smoke

# pytest runs from Debian's python3: the one first on PATH may not see python3-grpcio.
stage pytest
dirs=(tests/e2e)
[ -d tests/windows ] && dirs+=(tests/windows)
[ -d tests/deploy ] && dirs+=(tests/deploy)
WINCRID="$PWD/build/san/wincrid" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
    --ignore=tests/windows/e2e "${dirs[@]}" "$@"
# wincrid.exe end to end on the simulated Windows host (its own target: doubles + pytest).
make windows-e2e
