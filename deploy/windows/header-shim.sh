#!/usr/bin/env bash
# For `make windows-check` without the cross-built dependency cache: exposes only the
# platform-neutral headers of Debian's -dev packages (never glibc's) to x86_64-w64-mingw32-gcc,
# so every Windows source can be compiled. Linking needs deploy/windows/build-deps.sh.
set -euo pipefail
out=$1
mkdir -p "$out/openssl"
for h in grpc protobuf-c jansson.h jansson_config.h sqlite3.h archive.h archive_entry.h zlib.h zconf.h; do
    ln -sfn "/usr/include/$h" "$out/$h"
done
ln -sfn /usr/include/x86_64-linux-gnu/curl "$out/curl"
# OpenSSL: the generic headers plus the two generated per-arch ones.
for h in /usr/include/openssl/*.h /usr/include/x86_64-linux-gnu/openssl/*.h; do
    ln -sfn "$h" "$out/openssl/$(basename "$h")"
done
