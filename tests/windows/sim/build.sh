#!/bin/sh
# Builds the winsim test doubles with mingw-w64 alone: simhost.exe (the host's services),
# computecore.dll, computestorage.dll, computenetwork.dll, vmcompute.dll, and ctr.exe (the
# program in the test image). Usage: build.sh OUTDIR
set -eu
out=${1:?usage: build.sh OUTDIR}
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
CC=${WIN_CC:-x86_64-w64-mingw32-gcc}
CFLAGS="-std=c11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -O1 -s
        -D_WIN32_WINNT=0x0A00 -DNTDDI_VERSION=0x0A000006 -D__USE_MINGW_ANSI_STDIO=1 -I$src"
common="$src/simjson.c"
client="$src/simclient.c $common"

exports() { # file.c -> the WINAPI functions it defines, for a .def file
    grep -v '^static' "$1" | sed -n 's/^[A-Za-z_ *]*WINAPI \([A-Za-z0-9_]*\)(.*/\1/p' | grep -v '^DllMain$' | sort -u
}

dll() { # name sources... -- libs...
    name=$1; shift
    srcs=""; libs=""
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do srcs="$srcs $1"; shift; done
    [ $# -gt 0 ] && shift
    libs="$*"
    { echo "LIBRARY $name.dll"; echo "EXPORTS"; for f in $srcs; do exports "$f"; done; } \
        > "$out/$name.def"
    # shellcheck disable=SC2086
    $CC $CFLAGS -shared -o "$out/$name.dll" $srcs "$out/$name.def" $libs
}

dll computecore "$src/computecore.c" "$src/winegaps.c" $client -- -lws2_32 -lole32
dll computestorage "$src/computestorage.c" $client -- -lws2_32 -lole32
dll computenetwork "$src/computenetwork.c" $client -- -lws2_32 -lole32
dll vmcompute "$src/vmcompute.c" $client -- -lws2_32 -lole32
# shellcheck disable=SC2086
$CC $CFLAGS -o "$out/simhost.exe" "$src/host_main.c" "$src/host_hcs.c" "$src/host_storage.c" \
    "$src/host_hcn.c" "$src/host_ccg.c" "$src/host_gaps.c" "$src/host_threads.c" $common -lws2_32 -lole32 -lpsapi -lbcrypt -lntdll
# shellcheck disable=SC2086
$CC $CFLAGS -o "$out/ctr.exe" "$src/ctr.c" -lws2_32 -ladvapi32
echo "winsim built in $out"
