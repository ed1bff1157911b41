#!/usr/bin/env bash
# Cross-builds build/bench/winpull_bench.exe (tests/bench/winpull_bench.c) from the objects
# `make windows` compiled into build/winlink (the image and common code wincrid.exe links),
# against the cached dependency prefix (libarchive, OpenSSL, Jansson, zlib, zstd).
set -euo pipefail
cd "$(dirname "$0")/../.."
flags=${WIN_DEPS:-/var/cache/wincri/win-deps}/link-flags.txt
cc=$(sed -n 's/^CC=//p' "$flags")
dep_cflags=$(sed -n 's/^CFLAGS=//p' "$flags")
libs=$(sed -n 's/^LIBS=//p' "$flags")
wl=build/winlink
out=build/bench
mkdir -p "$out"
objs=""
for o in image/unpack image/unpack_win32 image/winlayer image/winlayer_codec \
         image/winlayer_win32 image/digest image/fsutil_win32 image/wclayer image/wclayer_chain \
         image/wclayer_win32 common/err common/log common/xalloc common/xalloc_json \
         common/clock common/clock_win32 common/dll_win32 common/wstr_win32; do
    [ -f "$wl/$o.o" ] || { echo "$wl/$o.o is missing: run \`make windows\` first" >&2; exit 1; }
    objs="$objs $wl/$o.o"
done
# shellcheck disable=SC2086
"$cc" -std=c11 -Wall -Wextra -Werror -Wno-unused-parameter -I. $dep_cflags -O2 \
    -D_WIN32_WINNT=0x0A00 -D__USE_MINGW_ANSI_STDIO=1 -o "$out/winpull_bench.exe" \
    tests/bench/winpull_bench.c $objs -static $libs
echo "built $out/winpull_bench.exe"
