#!/usr/bin/env bash
# The whole test suite: unit tests under ASan/UBSan and again under valgrind, the Windows
# build (wincrid.exe, run under wine by tests/windows), formatting, a short run of every
# libFuzzer target, the end-to-end tests against a sanitized wincrid, and the Windows
# document and wine tests. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc)
make -j"$jobs" VARIANT=san all unit
make -j"$jobs" valgrind
# wincrid.exe, linked against the mingw dependency cache (built once, ~20 min cold).
make -j"$jobs" windows
make format-check
# Every fuzz target for FUZZ_SMOKE_SECONDS (10 s by default), from its seeds and what
# earlier runs found; `make fuzz` is the long run.
make -j"$jobs" fuzz-smoke

# pytest runs from Debian's python3: the one first on PATH may not see python3-grpcio.
dirs=(tests/e2e)
[ -d tests/windows ] && dirs+=(tests/windows)
WINCRID="$PWD/build/san/wincrid" /usr/bin/python3 -m pytest -q -p no:cacheprovider "${dirs[@]}" "$@"
