#!/bin/bash
# The CRI validation suite's own benchmark (critest -benchmark) against wincrid and against
# Debian's containerd, in alternating rounds, and a table of medians with ratios. Not part of
# `make bench`: critest is not a Debian package. It needs the conformance harness that
# builds critest's images and registry (run.sh, its README says how):
#
#   tests/bench/critest_bench.sh ../shared/conformance/run.sh build/release/wincrid [ROUNDS]
#
# wincrid runs through run.sh (registry on 127.0.0.1:5000, stand-in images, CNI bridge conf0);
# containerd then runs with the same conflist and the upstream registries mirrored to that
# registry. Each round: 50 samples of each lifecycle, one at a time (params below).
set -euo pipefail
RUN=$(readlink -f "${1:?usage: critest_bench.sh CONFORMANCE_RUN_SH WINCRID [ROUNDS]}")
WINCRID=$(readlink -f "${2:?usage: critest_bench.sh CONFORMANCE_RUN_SH WINCRID [ROUNDS]}")
ROUNDS=${3:-3}
CRITEST=$(dirname "$RUN")/bin/critest
W=${CONF_WORK:-/var/tmp/wincri-conformance}
OUT=$(mktemp -d /tmp/wcbench-critest-XXXX)
cat >"$OUT/params.yaml" <<'YAML'
containersNumber: 50
containersNumberParallel: 1
containerBenchmarkTimeoutSeconds: 300
podsNumber: 50
podsNumberParallel: 1
podBenchmarkTimeoutSeconds: 300
imagesNumber: 50
imagesNumberParallel: 1
imageBenchmarkTimeoutSeconds: 300
imagePullingBenchmarkImage: registry.k8s.io/e2e-test-images/nginx:1.14-2
imageListingBenchmarkImages:
  - registry.k8s.io/e2e-test-images/nginx:1.14-2
YAML

containerd_round() {
  local out=$1 d
  d=$(mktemp -d /tmp/wcbench-critest-ctd-XXXX)
  local p='[plugins."io.containerd.grpc.v1.cri"'
  {
    echo 'version = 2'; echo "root = \"$d/root\""; echo "state = \"$d/state\""
    echo '[grpc]'; echo "  address = \"$d/containerd.sock\""
    echo '[ttrpc]'; echo "  address = \"$d/containerd.sock.ttrpc\""
    echo '[plugins."io.containerd.internal.v1.opt"]'; echo "  path = \"$d/opt\""
    echo "$p]"; echo '  sandbox_image = "registry.k8s.io/pause:3.6"'
    echo '  disable_apparmor = true'; echo '  restrict_oom_score_adj = true'
    echo '  stream_server_address = "127.0.0.1"'; echo '  stream_server_port = "0"'
    echo "$p.containerd]"; echo '  snapshotter = "overlayfs"'; echo '  default_runtime_name = "runc"'
    echo "$p.containerd.runtimes.runc]"; echo '  runtime_type = "io.containerd.runc.v2"'
    echo "$p.containerd.runtimes.runc.options]"; echo '  SystemdCgroup = false'
    echo "  Root = \"$d/runc\""
    echo "$p.cni]"; echo '  bin_dir = "/usr/lib/cni"'; echo "  conf_dir = \"$W/net.d\""
    echo '  max_conf_num = 1'
    for r in registry.k8s.io k8s.gcr.io gcr.io public.ecr.aws docker.io; do
      echo "$p.registry.mirrors.\"$r\"]"; echo '  endpoint = ["http://127.0.0.1:5000"]'
    done
  } >"$d/config.toml"
  containerd --config "$d/config.toml" >"$d/containerd.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do [ -S "$d/containerd.sock" ] && break; sleep 0.1; done
  sleep 1
  mkdir -p "$out"
  timeout 1200 "$CRITEST" -runtime-endpoint "unix://$d/containerd.sock" \
    -image-endpoint "unix://$d/containerd.sock" -test-images-file "$W/test-images.yaml" \
    -ginkgo.no-color -benchmark -benchmarking-params-file "$OUT/params.yaml" \
    -benchmarking-output-dir "$out" >"$out/critest.log" 2>&1 || echo "containerd round: critest failed ($out/critest.log)"
  kill "$pid"; wait "$pid" || true
  for r in "$d"/runc/*; do
    [ -d "$r" ] && for c in $(ls "$r"); do runc --root "$r" delete -f "$c" || true; done
  done 2>/dev/null
  pkill -f "containerd-shim-runc-v2 .*-address $d/containerd.sock" 2>/dev/null || true
  grep -o " $d[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$d"
}

for i in $(seq 1 "$ROUNDS"); do
  mkdir -p "$OUT/w$i"
  CONF_TIMEOUT=1200 "$RUN" "$WINCRID" -benchmark -benchmarking-params-file "$OUT/params.yaml" \
    -benchmarking-output-dir "$OUT/w$i" >/dev/null 2>&1 || echo "wincri round $i: critest failed ($W/critest.log)"
  containerd_round "$OUT/c$i"
done

/usr/bin/python3 - "$OUT" "$ROUNDS" <<'PY'
import json, os, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def load(d):
    res = {}
    for f in sorted(os.listdir(d)):
        if f.endswith(".json"):
            j = json.load(open(os.path.join(d, f)))
            for i, n in enumerate(j["operationsNames"]):
                res[n] = statistics.median(p["operationsDurationsNs"][i] / 1e6 for p in j["datapoints"])
    return res
w = [load(os.path.join(out, f"w{i}")) for i in range(1, rounds + 1)]
c = [load(os.path.join(out, f"c{i}")) for i in range(1, rounds + 1)]
print(f"critest -benchmark, medians of {rounds} rounds (ms); data in {out}")
print("| operation | wincri | containerd | ratio | wincri per round | containerd per round |")
print("|---|---:|---:|---:|---|---|")
for op in w[0]:
    a = statistics.median(r[op] for r in w)
    b = statistics.median(r[op] for r in c if op in r) if any(op in r for r in c) else float("nan")
    print(f"| {op} | {a:.2f} | {b:.2f} | {a / b:.2f} | "
          + " / ".join(f"{r[op]:.2f}" for r in w) + " | "
          + " / ".join(f"{r.get(op, float('nan')):.2f}" for r in c) + " |")
PY
