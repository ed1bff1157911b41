#!/usr/bin/env bash
# Builds the streaming test programs into build/streaming/: stream_testd (the streaming
# server from cri/ with a test backend, under ASan/UBSan) and spdyclient (Go, on Debian's
# golang-github-docker-spdystream-dev, offline: GOPATH mode over /usr/share/gocode).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=build/streaming
mkdir -p "$out"
src="cri/httpparse.c cri/websocket.c cri/spdy.c cri/spdy_dict.c cri/streaming.c
     cri/streaming_session.c cri/streaming_linux.c tests/streaming/stream_testd.c"
cflags="-std=c11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -I. -D_GNU_SOURCE -g -O1
        -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"
libs="$(pkg-config --libs jansson zlib libssl libcrypto) -lutil -lpthread"
# common/ helpers come from libwincri when it is built; otherwise straight from source.
if [ -f build/san/libwincri.a ] &&
    gcc $cflags $(pkg-config --cflags jansson) -o "$out/stream_testd" $src build/san/libwincri.a \
        $libs 2>/dev/null; then
    :
else
    gcc $cflags $(pkg-config --cflags jansson) -o "$out/stream_testd" $src common/err.c \
        common/log.c common/clock.c common/clock_linux.c common/net_linux.c common/xalloc.c $libs
fi
if command -v go >/dev/null && [ -d /usr/share/gocode/src/github.com/docker/spdystream ]; then
    mkdir -p "$PWD/build/streaming/gocache"
    GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= GOPROXY=off \
        GOCACHE="$PWD/build/streaming/gocache" \
        go build -o "$out/spdyclient" ./tests/streaming/spdyclient
fi
