#!/usr/bin/env bash
# Cross-builds build/streaming/stream_testd_win32.exe: the streaming server from cri/ with
# its Windows layer and the Windows test backend, linked statically against the cached
# dependency prefix (OpenSSL, Jansson, zlib) that `make windows` uses.
set -euo pipefail
cd "$(dirname "$0")/../.."
flags=${WIN_DEPS:-/var/cache/wincri/win-deps}/link-flags.txt
cc=$(sed -n 's/^CC=//p' "$flags")
dep_cflags=$(sed -n 's/^CFLAGS=//p' "$flags")
inc=$(echo "$dep_cflags" | tr ' ' '\n' | sed -n 's/^-I//p' | head -1)
lib=${inc%/include}/lib
out=build/streaming
mkdir -p "$out"
src="cri/httpparse.c cri/websocket.c cri/spdy.c cri/spdy_dict.c cri/streaming.c cri/streaming_tls.c
     cri/streaming_session.c cri/streaming_win32.c hcs/winstr.c common/err.c common/log.c
     common/clock.c common/clock_win32.c common/net_win32.c common/xalloc.c
     tests/streaming/stream_testd_win32.c"
# shellcheck disable=SC2086
"$cc" -std=c11 -Wall -Wextra -Werror -Wno-unused-parameter -I. $dep_cflags -O1 -g \
    -D_WIN32_WINNT=0x0A00 -D__USE_MINGW_ANSI_STDIO=1 -o "$out/stream_testd_win32.exe" $src \
    -static -L"$lib" -ljansson -lssl -lcrypto -lz -lws2_32 -lcrypt32 -luser32 -ladvapi32 \
    -lbcrypt -lwinpthread
