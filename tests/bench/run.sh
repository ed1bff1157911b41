#!/usr/bin/env bash
# `make bench`: wincri against containerd 1.6 + runc (Debian's) on this machine, in one run.
# Builds the release wincrid, installs what the benchmarks need if missing, runs
#   bench_pull.py       image pull + unpack time (issue 3 item 7)
#   bench_pods.py       pod start/stop, List/Status latency, RSS, processes per pod (issue 4 item 8)
#   bench_restart.py    memory with 50 pods (keeper and shims counted), kill -9 restart to ready
#                       (issue 15 item 5)
#   bench_ops.py        every CRI call's latency, both runtimes alternately (issue 18)
#   bench_streaming.py  when present
#   bench_winpull.py    the Windows pull under wine on the simulated host: layer parser, unpack
#                       and import MB/s, concurrent-pull dedupe (issue 18); builds wincrid.exe
#                       (`make windows`), the winsim doubles and winpull_bench.exe first
# and prints each one's summary at the end. Logs go to build/bench/. Extra arguments per
# benchmark come from BENCH_PULL_ARGS, BENCH_PODS_ARGS, BENCH_RESTART_ARGS, BENCH_OPS_ARGS,
# BENCH_STREAMING_ARGS, BENCH_WINPULL_ARGS, e.g. a quick run:
#   BENCH_PULL_ARGS="--rounds 1 --mb 50" BENCH_PODS_ARGS="--pods 10 --per-pod 2 --calls 50" \
#       tests/bench/run.sh
# BENCH_ONLY="restart ops" runs only the benchmarks named (pull pods restart ops streaming
# winpull). winpull needs wine (wine64) and mingw-w64; without wine it is skipped unless named.
set -euo pipefail

cd "$(dirname "$0")/../.."
PY=/usr/bin/python3 # Debian's: it sees python3-grpcio
OUT=build/bench
NEED=(containerd runc containernetworking-plugins docker-registry iptables iproute2 gcc libc6-dev
      golang-go protobuf-compiler protobuf-compiler-grpc python3 python3-grpcio python3-protobuf
      busybox-static)

if [ "$(id -u)" -ne 0 ]; then
    echo "bench: needs root (network namespaces, runc, iptables)" >&2
    exit 1
fi

missing=()
for p in "${NEED[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

make VARIANT=release
export WINCRID="$PWD/build/release/wincrid"
mkdir -p "$OUT"
started=$(date +%s)
failed=()

run() { # name, script, extra args (a string, split on spaces)
    local name=$1 script=$2 args=$3
    if [ -n "${BENCH_ONLY:-}" ] && [[ " $BENCH_ONLY " != *" $name "* ]]; then
        rm -f "$OUT/$name.log" # not this time: no stale summary
        return 0
    fi
    echo
    echo "==== $name: $PY $script $args"
    # shellcheck disable=SC2086
    if "$PY" "$script" $args 2>&1 | tee "$OUT/$name.log"; then
        return 0
    fi
    failed+=("$name")
}

run pull tests/bench/bench_pull.py "${BENCH_PULL_ARGS:-}"
run pods tests/bench/bench_pods.py "--out $OUT/pods-table.md --keep-wincrid-log $OUT/wincrid-pods.log ${BENCH_PODS_ARGS:-}"
run restart tests/bench/bench_restart.py "--out $OUT/restart-table.md ${BENCH_RESTART_ARGS:-}"
run ops tests/bench/bench_ops.py "--out $OUT/ops-table.md ${BENCH_OPS_ARGS:-}"
if [ -f tests/bench/bench_streaming.py ]; then
    run streaming tests/bench/bench_streaming.py "${BENCH_STREAMING_ARGS:-}"
fi
# The Windows pull: wincrid.exe, the winsim doubles and the layer bench program first.
wants_winpull() {
    if [ -n "${BENCH_ONLY:-}" ]; then [[ " $BENCH_ONLY " == *" winpull "* ]]; else command -v wine >/dev/null; fi
}
if wants_winpull; then
    if make windows >"$OUT/winpull-build.log" 2>&1 && tests/windows/sim/build.sh build/winsim \
        >>"$OUT/winpull-build.log" 2>&1 && tests/bench/build_winpull.sh >>"$OUT/winpull-build.log" 2>&1; then
        run winpull tests/bench/bench_winpull.py "--out $OUT/winpull-table.md ${BENCH_WINPULL_ARGS:-}"
    else
        echo "bench: winpull: build failed, see $OUT/winpull-build.log" >&2
        failed+=(winpull)
    fi
else
    rm -f "$OUT/winpull.log"
fi

echo
echo "==================== bench summary ($(date -u '+%Y-%m-%d %H:%M UTC'), $(($(date +%s) - started)) s, wincrid $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
if [ -f "$OUT/pull.log" ]; then
    echo "-- pull (build/bench/pull.log)"
    grep -E '^(image:|containerd pull|wincri +pull|ratio|wincrid peak)' "$OUT/pull.log" || true
fi
if [ -f "$OUT/pods.log" ]; then
    echo "-- pods (build/bench/pods.log)"
    sed -n '/^==== pod benchmark summary/,$p' "$OUT/pods.log" | sed '1d'
fi
if [ -f "$OUT/restart.log" ]; then
    echo "-- restart (build/bench/restart.log, build/bench/restart-table.md)"
    sed -n '/^==== restart benchmark summary/,$p' "$OUT/restart.log" | sed '1d'
fi
if [ -f "$OUT/ops.log" ]; then
    echo "-- CRI operations (build/bench/ops.log, build/bench/ops-table.md)"
    sed -n '/^==== CRI operation benchmark summary/,$p' "$OUT/ops.log" | sed '1d' | grep -v '^\[' || true
fi
if [ -f "$OUT/streaming.log" ]; then
    echo "-- streaming (build/bench/streaming.log, last lines)"
    tail -n 15 "$OUT/streaming.log"
fi
if [ -f "$OUT/winpull.log" ]; then
    echo "-- Windows pull under wine (build/bench/winpull.log, build/bench/winpull-table.md)"
    cat "$OUT/winpull-table.md" 2>/dev/null || tail -n 15 "$OUT/winpull.log"
fi
if [ ${#failed[@]} -gt 0 ]; then
    echo "bench: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "bench: done"
