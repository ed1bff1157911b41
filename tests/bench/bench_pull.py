#!/usr/bin/python3
"""Pull benchmark: wincri against containerd on the same machine, in the same run.

Builds an image of 5 layers totalling about 200 MB (random and compressible content),
pushes it to Debian's docker-registry on 127.0.0.1, then pulls it with unpack:
  * containerd (Debian's): `ctr -n k8s.io images pull --plain-http` against a private
    containerd on a temp root (overlayfs snapshotter), and
  * wincrid: PullImage over CRI on a temp root.
Each tool runs --rounds times, alternating, each time on a fresh root with page caches dropped
(when the machine allows it). Prints the median times, the ratio wincri/containerd and
wincrid's peak RSS (VmHWM) during its pulls.

Usage: /usr/bin/python3 tests/bench/bench_pull.py [--rounds N] [--mb 200]
Env: WINCRID (default build/release/wincrid)."""
import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
sys.path.insert(0, HERE)

import containerd  # noqa: E402
import registry as R  # noqa: E402


def stubs():
    out = tempfile.mkdtemp(prefix="wcbench-pb-")
    atexit.register(shutil.rmtree, out, True)
    subprocess.run(["protoc", f"--python_out={out}", f"--grpc_out={out}",
                    "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin",
                    f"-I{REPO}/cri", f"{REPO}/cri/api.proto"], check=True)
    sys.path.insert(0, out)
    import api_pb2
    import api_pb2_grpc
    return api_pb2, api_pb2_grpc


def compressible(n, seed):
    words = [b"kubelet", b"container", b"windows", b"layer", b"registry", b"servercore",
             b"%d" % seed, b"\n", b"nanoserver", b"pause"]
    out = bytearray()
    i = seed
    while len(out) < n:
        out += words[i % len(words)] + b" "
        i = (i * 1103515245 + 12345) & 0x7FFFFFFF
    return bytes(out[:n])


def build_image(total_mb):
    mb = 1 << 20
    plan = [("random", 0.30), ("text", 0.20), ("random", 0.20), ("text", 0.15), ("mixed", 0.15)]
    layers = []
    for i, (kind, share) in enumerate(plan):
        size = int(total_mb * share * mb)
        t = R.TarBuilder().dir(f"layer{i}")
        nfiles = 8 if kind != "mixed" else 64
        for f in range(nfiles):
            n = size // nfiles
            if kind == "random" or (kind == "mixed" and f % 2):
                data = os.urandom(n)
            else:
                data = compressible(n, i * 1000 + f)
            t.file(f"layer{i}/file{f}", data)
        tar = t.bytes()
        layer = R.Layer.__new__(R.Layer)
        layer.diff_id = R.sha256(tar)
        layer.media_type = R.OCI_LAYER_GZIP
        import gzip
        layer.blob = gzip.compress(tar, compresslevel=1, mtime=0)
        layer.digest = R.sha256(layer.blob)
        layers.append(layer)
    return R.Image(layers)


def drop_caches():
    subprocess.run(["sync"])
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready")


class Containerd:
    """containerd without its CRI plugin, from the shared helper (containerd.py); pulls with ctr."""

    def __init__(self):
        self.c = containerd.start(cri=False)

    def pull(self, ref):
        t = time.time()
        subprocess.run(["ctr", "--address", self.c.address, "-n", "k8s.io", "images", "pull",
                        "--plain-http", ref], check=True, stdout=subprocess.DEVNULL)
        return time.time() - t

    def stop(self):
        self.c.stop()


class Wincrid:
    def __init__(self, binary, pb, pb_grpc):
        import grpc
        self.dir = tempfile.mkdtemp(prefix="wcbench-wc-")
        self.sock = os.path.join(self.dir, "state", "wincri.sock")
        cfg = {"root": os.path.join(self.dir, "root"), "state": os.path.join(self.dir, "state"),
               "listen": "unix://" + self.sock, "log_level": "info",
               "cni_conf_dir": os.path.join(self.dir, "cni"), "cni_bin_dirs": ["/usr/lib/cni"]}
        path = os.path.join(self.dir, "config.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        self.log = open(os.path.join(self.dir, "wincrid.log"), "wb")
        self.proc = subprocess.Popen([binary, "--config", path], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.pb = pb
        self.channel = grpc.insecure_channel("unix://" + self.sock)
        self.images = pb_grpc.ImageServiceStub(self.channel)
        runtime = pb_grpc.RuntimeServiceStub(self.channel)

        def ready():
            try:
                runtime.Version(pb.VersionRequest(), timeout=1)
                return True
            except grpc.RpcError:
                return False
        wait_for(ready, 30, "wincrid")

    def pull(self, ref):
        t = time.time()
        self.images.PullImage(self.pb.PullImageRequest(image=self.pb.ImageSpec(image=ref)),
                              timeout=600)
        return time.time() - t

    def peak_rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        self.channel.close()
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mb", type=int, default=200)
    args = ap.parse_args()
    binary = os.environ.get("WINCRID", os.path.join(REPO, "build", "release", "wincrid"))
    pb, pb_grpc = stubs()

    print(f"building a {args.mb} MB image of 5 layers ...", flush=True)
    img = build_image(args.mb)
    blob_mb = sum(len(l.blob) for l in img.layers) / (1 << 20)
    storage = tempfile.mkdtemp(prefix="wcbench-reg-")
    reg = R.Registry(storage)
    try:
        R.Pusher(reg.url).image("bench/pull", "v1", img)
        ref = f"{reg.host}/bench/pull:v1"
        cold = drop_caches()
        times = {"containerd": [], "wincri": []}
        rss = []
        for rnd in range(args.rounds):
            order = ["containerd", "wincri"] if rnd % 2 == 0 else ["wincri", "containerd"]
            for who in order:
                if who == "containerd":
                    c = Containerd()
                    drop_caches()
                    try:
                        times[who].append(c.pull(ref))
                    finally:
                        c.stop()
                else:
                    w = Wincrid(binary, pb, pb_grpc)
                    drop_caches()
                    try:
                        times[who].append(w.pull(ref))
                        rss.append(w.peak_rss_kb())
                    finally:
                        w.stop()
                print(f"  round {rnd + 1}: {who:10s} {times[who][-1]:6.2f} s", flush=True)
        ctd = statistics.median(times["containerd"])
        wc = statistics.median(times["wincri"])
        print(f"image: 5 layers, {args.mb} MB unpacked, {blob_mb:.0f} MB compressed; "
              f"rounds: {args.rounds}; page caches dropped: {'yes' if cold else 'no'}")
        print(f"containerd pull+unpack (median): {ctd:.2f} s")
        print(f"wincri     pull+unpack (median): {wc:.2f} s")
        print(f"ratio wincri/containerd: {wc / ctd:.2f} (target <= 0.50)")
        print(f"wincrid peak RSS: {max(rss) / 1024:.1f} MiB")
    finally:
        reg.stop()
        shutil.rmtree(storage, ignore_errors=True)


if __name__ == "__main__":
    main()
