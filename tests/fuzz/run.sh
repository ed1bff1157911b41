#!/usr/bin/env bash
# Runs the libFuzzer targets built by `make fuzz-build` (build/fuzz/bin/NAME), each for
# SECONDS, as many at a time as there are cores. Every target starts from its seeds
# (tests/fuzz/corpus/NAME) plus what earlier runs found (build/fuzz/corpus/NAME, where new
# inputs go). Any crash, leak, timeout or sanitizer report fails the run; the input that
# caused it is kept under build/fuzz/artifacts/NAME/ and the log under build/fuzz/logs/.
#
#   tests/fuzz/run.sh SECONDS [NAME...]
set -euo pipefail
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
cd "$(dirname "$0")/../.."

secs=${1:?usage: $0 SECONDS [TARGET...]}
shift
out=build/fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in tests/fuzz/fuzz_*.c; do
        n=${f#tests/fuzz/fuzz_}
        targets+=("${n%.c}")
    done
fi
jobs=${FUZZ_JOBS:-$(nproc)}

run_one() {
    local t=$1
    local bin=$out/bin/$t log=$out/logs/$t.log
    mkdir -p "$out/corpus/$t" "$out/artifacts/$t" "$out/logs" "$out/scratch"
    local extra=()
    [ -f "tests/fuzz/dict/$t.dict" ] && extra+=("-dict=tests/fuzz/dict/$t.dict")
    local start=$SECONDS rc=0
    # -timeout: one input may take at most this long (a hang is a bug); rss_limit_mb: a
    # leak or an unbounded allocation is one too. Seeds are read-only: new inputs go to the
    # first corpus directory.
    FUZZ_SCRATCH="$out/scratch/$t" "$bin" -max_total_time="$secs" -timeout=20 \
        -rss_limit_mb=2560 -print_final_stats=1 -artifact_prefix="$out/artifacts/$t/" \
        "${extra[@]}" "$out/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ] && [ "$secs" -ge 60 ]; then
        # After a long run, keep only the inputs that still add coverage: the corpus is
        # replayed at every start, and the short runs should not spend their time on that.
        local min=$out/corpus/$t.min
        rm -rf "$min"
        mkdir -p "$min"
        mkdir -p "$out/tmp"
        if TMPDIR="$out/tmp" FUZZ_SCRATCH="$out/scratch/$t" "$bin" -merge=1 -timeout=20 -rss_limit_mb=2560 \
            "$min" "$out/corpus/$t" >>"$log" 2>&1; then
            rm -rf "$out/corpus/$t"
            mv "$min" "$out/corpus/$t"
        else
            rm -rf "$min"
        fi
    fi
    rmdir "$out/scratch/$t" 2>/dev/null || true
    local execs
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ "$rc" -ne 0 ]; then
        echo "FAIL $t (exit $rc after $((SECONDS - start)) s); log: $log"
        grep -E "^(==[0-9]+==ERROR|SUMMARY|.*runtime error|artifact_prefix|Test unit written)" \
            "$log" | head -20 | sed 's/^/    /'
        return 1
    fi
    echo "ok   $t: ${execs:-?} runs in $((SECONDS - start)) s"
}

failed=0
running=0
for t in "${targets[@]}"; do
    if [ ! -x "$out/bin/$t" ]; then
        echo "FAIL $t: $out/bin/$t is not built (make fuzz-build)"
        failed=1
        continue
    fi
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || failed=1
        running=$((running - 1))
    fi
done
while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
done
if [ "$failed" -ne 0 ]; then
    echo "fuzz: some targets failed (inputs under $out/artifacts/)"
    exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${secs} s each, no findings"
