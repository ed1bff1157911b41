#!/usr/bin/python3
"""Windows pull benchmark (issue 18): wincri's own share of a Windows image pull, under wine
on the simulated Windows host (tests/windows/sim; no Windows machine is available).

1. Layer code (winpull_bench.exe, tests/bench/winpull_bench.c, linked with the image code
   wincrid.exe links), per layer and round, base first:
     parse   the uncompressed layer tar, in memory, through the Windows layer parser alone;
     decode  the gzip blob from a file through gunzip, the diff-ID hash and the parser,
             writing nothing;
     unpack  the gzip blob from a file through the pull's per-layer path: gunzip, diff-ID
             hash, parser, BackupWrite staging folder;
     import  the staging folder into a layer folder: the base layer restored in place (wincri's
             own BackupWrite code) then ProcessBaseImage; the others ImportLayer through the
             winsim doubles, whose copy stands in for Windows' (the figure says how fast the
             calls go through here, nothing about Windows' ImportLayer).
   MB/s = uncompressed layer bytes / seconds, data layers only (the base layer is small);
   the median over --rounds.
2. Pulls of the same image by wincrid.exe from a local docker-registry on 127.0.0.1 through a
   counting proxy, not slowed down, each round from an empty store (RemoveImage between):
   one pull, then --concurrent pulls at once: wall times and wincrid.exe's CPU time (from
   /proc: under wine the Windows process is a Linux one), medians over --rounds, and for the
   concurrent pulls blob GETs, import calls and parses ("layer verified" log lines) per layer.

Writes build/bench/winpull-table.md and prints it. Needs `make windows` (build/winlink), the
winsim doubles (tests/windows/sim/build.sh build/winsim) and wine; tests/bench/run.sh
(BENCH_ONLY=winpull) builds them.

Usage: /usr/bin/python3 tests/bench/bench_winpull.py [--rounds 3] [--layers 4] [--files 400]
       [--big-mb 8] [--concurrent 3] [--out build/bench/winpull-table.md]"""
import argparse
import datetime
import gzip
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "windows", "e2e"))

import winsim  # noqa: E402
from winsim import PB, Reg, SimHost, WinCrid, WinTar  # noqa: E402
import registry as R  # noqa: E402

BENCH_EXE = os.path.join(REPO, "build", "bench", "winpull_bench.exe")
MB = 1e6


def data_tar(i, files, big_mb, rng):
    """A data layer: `files` files of 1-32 KiB in 20 folders and one file of big_mb MB, all
    random bytes (as incompressible as the binaries of real layers mostly are)."""
    t = WinTar()
    for k in range(files):
        t.file(f"Files/app{i}/d{k % 20}/f{k}.bin", rng.randbytes(rng.randint(1024, 32768)))
    t.file(f"Files/app{i}/big.bin", rng.randbytes(int(big_mb * MB)))
    return t.bytes()


def base_tar(marker):
    with open(os.path.join(winsim.SIM_DIR, "ctr.exe"), "rb") as f:
        exe = f.read()
    layer = winsim.base_layer(exe, marker)
    return gzip.decompress(layer.blob)


def make_layers(n, files, big_mb, seed):
    rng = random.Random(seed)
    return [base_tar(f"bench {seed}")] + [data_tar(i, files, big_mb, rng) for i in range(n)]


def image_of(tars):
    layers = [R.Layer(t, R.OCI_LAYER_GZIP) for t in tars]
    return R.Image(layers, os_name="windows", os_version=winsim.IMAGE_OS_VERSION,
                   extra_config={"config": {"Cmd": ["C:\\app\\ctr.exe", "run"]}})


# ---- 1. the layer code -----------------------------------------------------------------------

def layer_code(host, img, tars, rounds, tmp):
    args = []
    for i, (t, l) in enumerate(zip(tars, img.layers)):
        for name, data in ((f"l{i}.tar", t), (f"l{i}.tar.gz", l.blob)):
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(data)
        args += [host.win(os.path.join(tmp, f"l{i}.tar")),
                 host.win(os.path.join(tmp, f"l{i}.tar.gz"))]
    work = "C:\\wpbench"
    shutil.rmtree(host.path(work), ignore_errors=True)
    os.makedirs(host.path(work))
    env = dict(host.env, WINSIM_WINE_BACKUPWRITE="1")
    p = subprocess.run(["wine", BENCH_EXE, work, str(rounds), *args], env=env,
                       capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"winpull_bench.exe failed ({p.returncode}): {p.stderr[-2000:]}")
    rows = [json.loads(ln) for ln in p.stdout.splitlines() if ln.startswith("{")]
    for x in rows:  # the parser saw every byte of the files, not just the headers
        assert x["layer"] == 0 or x["data_bytes"] > 0.9 * x["tar_bytes"], x
    shutil.rmtree(host.path(work), ignore_errors=True)
    out = {}
    for stage in ("parse", "decode", "unpack", "import"):
        per_round = []
        for r in range(rounds):
            data = [x for x in rows if x["round"] == r and x["layer"] > 0]
            per_round.append(sum(x["tar_bytes"] for x in data) /
                             sum(x[stage + "_s"] for x in data) / MB)
        out[stage] = (statistics.median(per_round), min(per_round), max(per_round))
    base = [x for x in rows if x["layer"] == 0]
    out["base_import_ms"] = statistics.median(x["import_s"] for x in base) * 1000
    out["ops"] = sum(x["ops"] for x in rows if x["round"] == 0)
    return out


# ---- 2. pulls by wincrid.exe -----------------------------------------------------------------

def pull(d, ref):
    t0 = time.monotonic()
    d.image().PullImage(PB.PullImageRequest(image=PB.ImageSpec(image=ref)), timeout=900)
    return time.monotonic() - t0


def imports_per_layer(entries, img):
    """Import calls (ProcessBaseImage for the base, ImportLayer above) per layer index."""
    names = [e["id"].rstrip("\\").rsplit("\\", 1)[-1] for e in
             winsim.calls(entries, "ProcessBaseImage") + winsim.calls(entries, "ImportLayer")]
    return [names.count(h) for h in winsim.chain_hex(img)]


def cpu_s(d):
    """CPU seconds (user + system) of wincrid.exe so far: the Popen pid is the Windows
    process itself under wine."""
    with open(f"/proc/{d.proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def remove(d, ref):
    d.image().RemoveImage(PB.RemoveImageRequest(image=PB.ImageSpec(image=ref)), timeout=120)
    time.sleep(1)  # GC's reaper deletes what the removal freed in the background


def concurrent_pulls(d, ref, n):
    times, errors = [], []
    gate = threading.Barrier(n)

    def one():
        gate.wait()
        try:
            times.append(pull(d, ref))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    t0 = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"concurrent pulls failed: {errors}")
    return time.monotonic() - t0


def pulls(host, reg, img, rounds, concurrent):
    """Per round, from an empty store (RemoveImage before each): one pull, then `concurrent`
    pulls at once; the counts are the last round's."""
    proxy = R.CountingProxy(reg.host)
    d = WinCrid(host, proxy.host, subnet_index=9).start()
    ref = f"{proxy.host}/bench/img:v1"
    try:
        reg.push("bench/img", "v1", img)
        single, conc, single_cpu, conc_cpu = [], [], [], []
        for _ in range(rounds):
            c0 = cpu_s(d)
            single.append(pull(d, ref))
            single_cpu.append(cpu_s(d) - c0)
            remove(d, ref)
            mark, log_at = host.mark(), len(d.log())
            before = dict(proxy.blob_gets())
            c0 = cpu_s(d)
            conc.append(concurrent_pulls(d, ref, concurrent))
            conc_cpu.append(cpu_s(d) - c0)
            gets = {p: n - before.get(p, 0) for p, n in proxy.blob_gets().items()}
            log = d.log()[log_at:]
            remove(d, ref)
        parses = [sum(1 for ln in log.splitlines()
                      if "layer verified" in ln and f"blob={l.digest}" in ln)
                  for l in img.layers]
        return {"single": single, "conc": conc, "single_cpu": single_cpu, "conc_cpu": conc_cpu,
                "gets": [gets.get(f"/v2/bench/img/blobs/{l.digest}", 0) for l in img.layers],
                "imports": imports_per_layer(host.journal(mark), img), "parses": parses}
    finally:
        d.kill()
        proxy.stop()


def med(xs):
    return f"{statistics.median(xs):.2f} s ({min(xs):.2f}-{max(xs):.2f})"


# ---- the table -------------------------------------------------------------------------------

def table(args, img, lc, pl, wine):
    size = sum(len(l.blob) for l in img.layers)
    n = len(img.layers)
    rows = [
        ("wine", wine),
        ("image", f"{n} layers (base + {n - 1} data layers of {args.files} files of 1-32 KiB "
                  f"and one of {args.big_mb} MB), {size / MB:.1f} MB compressed, "
                  f"{args.tar_bytes / MB:.1f} MB uncompressed"),
        ("parse (winlayer parser alone, in memory)",
         f"{lc['parse'][0]:.0f} MB/s ({lc['parse'][1]:.0f}-{lc['parse'][2]:.0f})"),
        ("decode (gunzip + diff-ID hash + parser, no writes)",
         f"{lc['decode'][0]:.0f} MB/s ({lc['decode'][1]:.0f}-{lc['decode'][2]:.0f})"),
        ("unpack (decode + BackupWrite staging folder: what a pull runs per layer)",
         f"{lc['unpack'][0]:.0f} MB/s ({lc['unpack'][1]:.0f}-{lc['unpack'][2]:.0f})"),
        ("import, data layers (ImportLayer through the winsim doubles)",
         f"{lc['import'][0]:.0f} MB/s ({lc['import'][1]:.0f}-{lc['import'][2]:.0f})"),
        ("import, base layer (wincri's in-place restore + ProcessBaseImage)",
         f"{lc['base_import_ms']:.0f} ms"),
        ("wincrid.exe", os.path.relpath(winsim.EXE, REPO)),
        ("PullImage, one pull (registry on 127.0.0.1, not slowed)", med(pl["single"])),
        ("  wincrid.exe CPU time (user + system)", med(pl["single_cpu"])),
        (f"PullImage, {args.concurrent} concurrent pulls of the image: wall time",
         med(pl["conc"])),
        ("  wincrid.exe CPU time (user + system)", med(pl["conc_cpu"])),
        ("  blob GETs per layer", " ".join(str(x) for x in pl["gets"])),
        ("  import calls per layer", " ".join(str(x) for x in pl["imports"])),
        ("  parses per layer (\"layer verified\" lines)", " ".join(str(x) for x in pl["parses"])),
    ]
    out = ["| what | figure |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--layers", type=int, default=4, help="data layers above the base")
    ap.add_argument("--files", type=int, default=400, help="small files per data layer")
    ap.add_argument("--big-mb", type=float, default=8)
    ap.add_argument("--concurrent", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(REPO, "build", "bench", "winpull-table.md"))
    ap.add_argument("--wincrid-exe", help="another wincrid.exe (e.g. an older build) to pull with")
    args = ap.parse_args()
    if args.wincrid_exe:
        winsim.EXE = os.path.abspath(args.wincrid_exe)
    if not os.path.exists(BENCH_EXE):
        sys.exit(f"{BENCH_EXE} is missing: tests/bench/build_winpull.sh builds it")
    wine = subprocess.run(["wine", "--version"], capture_output=True, text=True).stdout.strip()
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"winpull: making layers ({args.layers} data layers)", flush=True)
    tars = make_layers(args.layers, args.files, args.big_mb, seed=1)
    img = image_of(tars)
    args.tar_bytes = sum(len(t) for t in tars)
    tmp = tempfile.mkdtemp(prefix="winpull-bench-")
    host = SimHost()
    reg = Reg()
    try:
        print("winpull: layer code under wine", flush=True)
        lc = layer_code(host, img, tars, args.rounds, tmp)
        print("winpull: pulls by wincrid.exe", flush=True)
        pl = pulls(host, reg, img, args.rounds, args.concurrent)
    finally:
        reg.stop()
        host.destroy()
        shutil.rmtree(tmp, ignore_errors=True)
    text = (f"Windows pull, wincri's share ({started}, {args.rounds} rounds, median "
            f"(min-max))\n\n" + table(args, img, lc, pl, wine))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print()
    print(text)


if __name__ == "__main__":
    main()
