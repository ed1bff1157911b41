#!/usr/bin/env bash
# Installs the Debian 12 packages wincri needs to build, run and test (as root). Only asks
# apt when something is missing, so a second run costs nothing.
set -euo pipefail

BUILD=(gcc make pkg-config libgrpc-dev protobuf-c-compiler libprotobuf-c-dev libjansson-dev
       libcurl4-openssl-dev libsqlite3-dev libarchive-dev libssl-dev zlib1g-dev)
RUN=(runc containernetworking-plugins iproute2 iptables)
TEST=(libcmocka-dev protobuf-compiler protobuf-compiler-grpc python3 python3-grpcio
      python3-protobuf python3-pytest python3-jsonschema python3-yaml python3-prometheus-client
      python3-websocket python3-cryptography docker-registry zstd iputils-ping
      busybox-static apache2-utils mingw-w64 wine wine64 clang-format valgrind
      golang-go golang-github-docker-spdystream-dev openssl file procps
      clang libclang-rt-14-dev)

want=("${BUILD[@]}" "${RUN[@]}")
case "${1:-all}" in
    run) ;;
    all | test) want+=("${TEST[@]}") ;;
    *) echo "usage: $0 [run|test]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages (${missing[*]}); run as root" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
