#!/usr/bin/python3
"""CRI operation benchmark (issue 18): the latency of each CRI call, wincri against containerd
1.6 + runc (Debian's), both running at once on the same machine, called alternately by the
same gRPC client (stubs generated from wincri's cri/api.proto).

Per iteration (--iterations, after --warmup iterations that are not counted), for each runtime
in turn (the order alternates every iteration, so both see the same background load):
  pod cycle:   RunPodSandbox, PodSandboxStatus, CreateContainer, StartContainer,
               ContainerStatus, StopContainer (timeout 10 s; the container, the suite's
               static pause, exits at SIGTERM), RemoveContainer, StopPodSandbox,
               RemovePodSandbox;
  image cycle: PullImage, ImageStatus, ListImages, RemoveImage of a small one-layer image
               (busybox, ~1 MB compressed) from a local docker-registry on 127.0.0.1.
Then with --pods x --per-pod containers running in each runtime (made by a few client threads,
not timed), --list-calls calls each of ListContainers, ListPodSandbox, ListContainerStats,
alternating between the runtimes.

Image figures are controlled for what made them vary between runs (see the output's notes):
  * cache state: each PullImage starts with the image absent (the previous RemoveImage is
    checked on disk: the layer blob must be gone from the runtime's content store) and not
    used by any container, so every pull fetches, verifies and unpacks;
  * registry warm-up and first-call cost: the image is pulled and removed --warmup times
    before anything is counted (the registry has served it, the HTTP connection and the
    databases are warm);
  * other processes' dirty data and journal: `sync` before each PullImage (untimed, for both
    runtimes), so a pull's fsync/syncfs pays for its own writes, not for what others left
    in the page cache; --no-sync-before-pull turns that off;
  * the machine's filesystem load at the time: a probe (create + fsync + unlink of a 4 KiB
    file, rmdir of a directory, on the same filesystem as the runtimes' roots) runs between
    iterations and its p50/p90 is printed, so two runs can be compared.
Medians are reported with p10/p90 and the ratio wincri/containerd of the medians.

Network: per runtime a bridge + host-local conflist (wincri wcbops0 10.93.0.0/16, containerd
wcbops1 10.92.0.0/16), no masquerade; iptables FORWARD rules drop anything from those subnets
to outside them for the run. Everything made is removed at the end.

Usage: /usr/bin/python3 tests/bench/bench_ops.py [--iterations 50] [--pods 50 --per-pod 10]
Env: WINCRID (default build/release/wincrid)."""
import argparse
import concurrent.futures
import datetime
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

import benchlib  # noqa: E402
import containerd as C  # noqa: E402
import registry as R  # noqa: E402

CGROUP_PARENT = "/wcbops"
RPC_TIMEOUT = 120
PB = PB_GRPC = None

POD_OPS = ["RunPodSandbox", "PodSandboxStatus", "CreateContainer", "StartContainer",
           "ContainerStatus", "StopContainer", "RemoveContainer", "StopPodSandbox",
           "RemovePodSandbox"]
IMAGE_OPS = ["PullImage", "ImageStatus", "ListImages", "RemoveImage"]
LIST_OPS = ["ListContainers", "ListPodSandbox", "ListContainerStats"]


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


# ---- one runtime as the benchmark sees it ---------------------------------------------------

class Target:
    """A started runtime, its client, and where its content store keeps blobs."""

    def __init__(self, name, runtime, blob_dir, log_root):
        import grpc
        self.name = name
        self.runtime = runtime
        self.blob_dir = blob_dir
        self.log_root = os.path.join(log_root, name)
        self.channel = grpc.insecure_channel(runtime.endpoint, options=[
            ("grpc.max_receive_message_length", 16 << 20)])
        self.rt = PB_GRPC.RuntimeServiceStub(self.channel)
        self.img = PB_GRPC.ImageServiceStub(self.channel)
        self.times = {}  # op -> [ms]
        self.seq = 0

    def call(self, op, fn, req, record=True, timeout=RPC_TIMEOUT):
        t0 = time.perf_counter()
        resp = fn(req, timeout=timeout)
        if record:
            self.times.setdefault(op, []).append((time.perf_counter() - t0) * 1000)
        return resp

    def sandbox_config(self, name):
        self.seq += 1
        cfg = PB.PodSandboxConfig(
            metadata=PB.PodSandboxMetadata(name=name, namespace="wcbops", uid=uuid.uuid4().hex),
            hostname=name[:63], log_directory=os.path.join(self.log_root, name),
            labels={"app": "wcbops"},
            linux=PB.LinuxPodSandboxConfig(cgroup_parent=CGROUP_PARENT))
        os.makedirs(cfg.log_directory, exist_ok=True)
        return cfg

    def container_config(self, name, ref):
        return PB.ContainerConfig(metadata=PB.ContainerMetadata(name=name),
                                  image=PB.ImageSpec(image=ref), command=["/pause"],
                                  log_path=f"{name}.log")

    def pod_cycle(self, ref, record):
        c = lambda op, fn, req: self.call(op, fn, req, record)  # noqa: E731
        cfg = self.sandbox_config(f"{self.name}-p{self.seq}")
        sid = c("RunPodSandbox", self.rt.RunPodSandbox,
                PB.RunPodSandboxRequest(config=cfg)).pod_sandbox_id
        c("PodSandboxStatus", self.rt.PodSandboxStatus,
          PB.PodSandboxStatusRequest(pod_sandbox_id=sid))
        cid = c("CreateContainer", self.rt.CreateContainer,
                PB.CreateContainerRequest(pod_sandbox_id=sid,
                                          config=self.container_config("c0", ref),
                                          sandbox_config=cfg)).container_id
        c("StartContainer", self.rt.StartContainer, PB.StartContainerRequest(container_id=cid))
        st = c("ContainerStatus", self.rt.ContainerStatus,
               PB.ContainerStatusRequest(container_id=cid)).status
        if st.state != PB.CONTAINER_RUNNING:
            raise RuntimeError(f"{self.name}: container {cid[:12]} is {st.state}, not running")
        c("StopContainer", self.rt.StopContainer,
          PB.StopContainerRequest(container_id=cid, timeout=10))
        c("RemoveContainer", self.rt.RemoveContainer, PB.RemoveContainerRequest(container_id=cid))
        c("StopPodSandbox", self.rt.StopPodSandbox, PB.StopPodSandboxRequest(pod_sandbox_id=sid))
        c("RemovePodSandbox", self.rt.RemovePodSandbox,
          PB.RemovePodSandboxRequest(pod_sandbox_id=sid))

    def image_cycle(self, ref, layer_digest, record, sync_before):
        c = lambda op, fn, req: self.call(op, fn, req, record)  # noqa: E731
        spec = PB.ImageSpec(image=ref)
        if self.blob_present(layer_digest):
            raise RuntimeError(f"{self.name}: layer blob {layer_digest[:19]} still in the "
                               f"content store before PullImage: the pull would not be cold")
        if sync_before:
            os.sync()
        image_ref = c("PullImage", self.img.PullImage, PB.PullImageRequest(image=spec)).image_ref
        got = c("ImageStatus", self.img.ImageStatus, PB.ImageStatusRequest(image=spec)).image
        if not got.id:
            raise RuntimeError(f"{self.name}: ImageStatus does not find {ref} after PullImage")
        c("ListImages", self.img.ListImages, PB.ListImagesRequest())
        c("RemoveImage", self.img.RemoveImage,
          PB.RemoveImageRequest(image=PB.ImageSpec(image=image_ref)))
        if self.blob_present(layer_digest):
            # containerd collects garbage synchronously on the last reference's delete; give a
            # lazy collector a moment before calling the state dirty
            time.sleep(0.5)
            if self.blob_present(layer_digest):
                raise RuntimeError(f"{self.name}: RemoveImage left the layer blob behind")

    def blob_present(self, digest):
        return os.path.exists(os.path.join(self.blob_dir, digest.split(":", 1)[1]))

    def fill(self, ref, pods, per_pod, workers):
        def one(i):
            cfg = self.sandbox_config(f"{self.name}-l{i}")
            sid = self.rt.RunPodSandbox(PB.RunPodSandboxRequest(config=cfg),
                                        timeout=RPC_TIMEOUT).pod_sandbox_id
            for k in range(per_pod):
                cid = self.rt.CreateContainer(
                    PB.CreateContainerRequest(pod_sandbox_id=sid,
                                              config=self.container_config(f"c{k}", ref),
                                              sandbox_config=cfg),
                    timeout=RPC_TIMEOUT).container_id
                self.rt.StartContainer(PB.StartContainerRequest(container_id=cid),
                                       timeout=RPC_TIMEOUT)
            return per_pod
        with concurrent.futures.ThreadPoolExecutor(workers) as ex:
            return sum(ex.map(one, range(pods)))

    def list_once(self, record=True):
        n = {}
        n["ListContainers"] = len(self.call("ListContainers", self.rt.ListContainers,
                                            PB.ListContainersRequest(), record).containers)
        n["ListPodSandbox"] = len(self.call("ListPodSandbox", self.rt.ListPodSandbox,
                                            PB.ListPodSandboxRequest(), record).items)
        n["ListContainerStats"] = len(self.call("ListContainerStats", self.rt.ListContainerStats,
                                                PB.ListContainerStatsRequest(), record).stats)
        return n

    def remove_all(self, workers):
        items = self.rt.ListPodSandbox(PB.ListPodSandboxRequest(), timeout=RPC_TIMEOUT).items

        def one(s):
            self.rt.StopPodSandbox(PB.StopPodSandboxRequest(pod_sandbox_id=s.id),
                                   timeout=RPC_TIMEOUT)
            self.rt.RemovePodSandbox(PB.RemovePodSandboxRequest(pod_sandbox_id=s.id),
                                     timeout=RPC_TIMEOUT)
        with concurrent.futures.ThreadPoolExecutor(workers) as ex:
            list(ex.map(one, items))
        return len(items)

    def close(self):
        self.channel.close()


# ---- the filesystem's weather ---------------------------------------------------------------

def fs_probe(d):
    """ms for: create + write 4 KiB + fsync a file; unlink it (its block was written, so this
    frees it); rmdir an empty directory (made and synced before). On the runtimes' fs."""
    path, sub = os.path.join(d, "probe"), os.path.join(d, "probe.d")
    os.mkdir(sub)
    t0 = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, b"x" * 4096)
    os.fsync(fd)
    os.close(fd)
    t1 = time.perf_counter()
    os.unlink(path)
    t2 = time.perf_counter()
    os.rmdir(sub)
    t3 = time.perf_counter()
    return (t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000


# ---- report --------------------------------------------------------------------------------

def fmt_ms(v):
    return "-" if v is None or v != v else (f"{v:.2f}" if v < 10 else f"{v:.1f}")


def report(targets, args, probes, extra):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    w, c = targets.get("wincri"), targets.get("containerd")
    lines = [f"CRI operation benchmark, {now}: {os.cpu_count()} cores, runc "
             f"{benchlib.runc_version()}, containerd {benchlib.containerd_version()}, "
             f"wincrid {extra['rev']}; {args.iterations} iterations (after {args.warmup} "
             f"warm-up), lists over {args.list_calls} calls with {extra['containers']} "
             f"containers in {args.pods} pods running in each runtime",
             "",
             "| operation | wincri p50 ms | (p10-p90) | containerd p50 ms | (p10-p90) | ratio |",
             "|---|---:|---:|---:|---:|---:|"]
    for op in POD_OPS + IMAGE_OPS + LIST_OPS:
        label = op + (f" ({extra['containers']} containers)" if op in LIST_OPS else "")

        def cell(t):
            v = t.times.get(op) if t else None
            if not v:
                return None, "-", "-"
            return pct(v, 50), fmt_ms(pct(v, 50)), f"{fmt_ms(pct(v, 10))}-{fmt_ms(pct(v, 90))}"
        wv, ws, wr = cell(w)
        cv, cs, cr = cell(c)
        ratio = f"{wv / cv:.2f}" if wv is not None and cv else "-"
        lines.append(f"| {label} | {ws} | {wr} | {cs} | {cr} | {ratio} |")
    f, u, r = (list(x) for x in zip(*probes)) if probes else ([], [], [])
    lines += [
        "",
        "Controls: calls alternate between the runtimes (the order flips every iteration); "
        f"{args.warmup} warm-up iterations are not counted (registry warm, HTTP connections "
        "and databases open); each PullImage starts with the image absent (the layer blob is "
        "checked gone after every RemoveImage) and unused by containers, so every pull "
        "fetches, verifies and unpacks; "
        + ("`sync` runs before each PullImage (untimed), so a pull's own fsync/syncfs does not "
           "pay for other processes' dirty pages. " if args.sync_before_pull else
           "no `sync` before PullImage (--no-sync-before-pull). ")
        + "Filesystem probe between iterations (4 KiB create+fsync / unlink / rmdir, same fs "
        f"as the roots): p50 {fmt_ms(pct(f, 50))}/{fmt_ms(pct(u, 50))}/{fmt_ms(pct(r, 50))} "
        f"ms, p90 {fmt_ms(pct(f, 90))}/{fmt_ms(pct(u, 90))}/{fmt_ms(pct(r, 90))} ms "
        "(on a quiet disk all three are well under 1 ms; higher means others' journal "
        "commits were in the way and image figures, which unlink, rmdir and fsync, move "
        "with it).",
        f"Container image: busybox + the static pause (one layer, {extra['ops_kb']} KiB "
        f"compressed); pulled image: busybox (one layer, {extra['small_kb']} KiB compressed); "
        f"ListImages lists {extra['images_w']} images in wincri, {extra['images_c']} in "
        "containerd (its sandbox image too).",
    ]
    return lines


# ---- main ----------------------------------------------------------------------------------

def main():
    global PB, PB_GRPC
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--pods", type=int, default=50, help="pods for the list calls")
    ap.add_argument("--per-pod", type=int, default=10, help="containers per pod, list calls")
    ap.add_argument("--list-calls", type=int, default=50)
    ap.add_argument("--workers", type=int, default=4, help="client threads for fill/cleanup")
    ap.add_argument("--runtimes", default="wincri,containerd")
    ap.add_argument("--no-sync-before-pull", dest="sync_before_pull", action="store_false")
    ap.add_argument("--skip", default="", help="phases to leave out: pods,images,lists")
    ap.add_argument("--wincri-log-level", default="info")
    ap.add_argument("--out", help="also write the table to this file")
    ap.add_argument("--keep-wincrid-log", metavar="PATH", help="copy wincrid's log here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_ops: needs root (network namespaces, runc)")
    skip = set(args.skip.split(",")) - {""}
    binary = os.environ.get("WINCRID", os.path.join(REPO, "build", "release", "wincrid"))
    pb_dir, PB, PB_GRPC = benchlib.stubs()
    names = args.runtimes.split(",")

    work = tempfile.mkdtemp(prefix="wcbench-ops-")
    nets = {"wincri": ("10.93.0.0/16", "wcbops0"), "containerd": ("10.92.0.0/16", "wcbops1")}
    rules = []
    reg = R.Registry(os.path.join(work, "registry"))
    targets, runtimes = {}, []
    probes = []
    try:
        pause = C.pause_binary()
        ops_img = benchlib.busybox_image(["sh", "sleep"], extra={"pause": (pause, 0o755)},
                                         cmd=["/pause"])
        small_img = benchlib.busybox_image(["sh", "true"])
        pusher = R.Pusher(reg.url)
        pusher.image("bench/ops", "v1", ops_img)
        pusher.image("bench/small", "v1", small_img)
        ops_ref, small_ref = f"{reg.host}/bench/ops:v1", f"{reg.host}/bench/small:v1"
        small_layer = small_img.layers[0].digest
        for name in names:
            subnet, bridge = nets[name]
            cni_dir, ipam_dir = os.path.join(work, name, "cni"), os.path.join(work, name, "ipam")
            os.makedirs(cni_dir)
            os.makedirs(ipam_dir)
            benchlib.write_bridge_cni(cni_dir, ipam_dir, subnet, bridge, "wcbops-" + name)
            rule = ["FORWARD", "-s", subnet, "!", "-d", subnet, "-j", "DROP"]
            subprocess.run(["iptables", "-I", *rule], check=True)
            rules.append((rule, bridge))
            if name == "wincri":
                rt = benchlib.Wincrid(binary, cni_dir, args.wincri_log_level)
                blobs = os.path.join(rt.dir, "root", "images", "blobs", "sha256")
            else:
                rt = C.start(cni_dir, reg.port)
                blobs = os.path.join(rt.dir, "root", "io.containerd.content.v1.content",
                                     "blobs", "sha256")
            runtimes.append(rt)
            targets[name] = Target(name, rt, blobs, os.path.join(work, "logs"))
        for t in targets.values():
            t.call("PullImage", t.img.PullImage,
                   PB.PullImageRequest(image=PB.ImageSpec(image=ops_ref)), record=False)
            if t.name == "containerd":
                t.call("PullImage", t.img.PullImage, PB.PullImageRequest(
                    image=PB.ImageSpec(image=t.runtime.sandbox_image)), record=False)
        order = list(targets.values())
        probe_dir = tempfile.mkdtemp(prefix="wcbench-probe-")
        for i in range(args.warmup + args.iterations):
            record = i >= args.warmup
            seq = order if i % 2 == 0 else order[::-1]
            for t in seq:
                if "pods" not in skip:
                    t.pod_cycle(ops_ref, record)
                if "images" not in skip:
                    t.image_cycle(small_ref, small_layer, record, args.sync_before_pull)
            probes.append(fs_probe(probe_dir))
            if (i + 1) % 10 == 0:
                print(f"iteration {i + 1}/{args.warmup + args.iterations}", flush=True)
        shutil.rmtree(probe_dir, ignore_errors=True)
        containers = 0
        if "lists" not in skip:
            for t in order:
                t0 = time.perf_counter()
                containers = t.fill(ops_ref, args.pods, args.per_pod, args.workers)
                print(f"[{t.name}] {containers} containers in {args.pods} pods started in "
                      f"{time.perf_counter() - t0:.1f} s", flush=True)
            for t in order:
                n = t.list_once(record=False)
                if n["ListContainers"] != containers or n["ListContainerStats"] != containers:
                    raise RuntimeError(f"{t.name}: lists {n}, expected {containers} containers")
            for i in range(args.list_calls):
                for t in (order if i % 2 == 0 else order[::-1]):
                    t.list_once()
        extra = {
            "rev": subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                                  capture_output=True, text=True).stdout.strip() or "?",
            "containers": containers,
            "ops_kb": len(ops_img.layers[0].blob) // 1024,
            "small_kb": len(small_img.layers[0].blob) // 1024,
            "images_w": "2 (during the cycle)" if "wincri" in targets else "-",
            "images_c": "3 (during the cycle)" if "containerd" in targets else "-",
        }
        lines = report(targets, args, probes, extra)
        print("\n==== CRI operation benchmark summary")
        print("\n".join(lines), flush=True)
        if args.out:
            with open(args.out, "w") as f:
                f.write("\n".join(lines) + "\n")
    finally:
        for t in targets.values():
            try:
                t0 = time.perf_counter()
                n = t.remove_all(args.workers)
                print(f"[{t.name}] cleanup: {n} pods removed in "
                      f"{time.perf_counter() - t0:.1f} s", flush=True)
            except Exception as e:  # noqa: BLE001 - the runtime's stop() cleans up the rest
                print(f"[{t.name}] cleanup through CRI failed: {e}", flush=True)
            t.close()
        for rt in runtimes:
            if args.keep_wincrid_log and isinstance(rt, benchlib.Wincrid):
                shutil.copy(rt.log_path, args.keep_wincrid_log)
            rt.stop()
        reg.stop()
        for rule, bridge in rules:
            subprocess.run(["iptables", "-D", *rule], capture_output=True)
            subprocess.run(["ip", "link", "del", bridge], capture_output=True)
        for ctl in os.listdir("/sys/fs/cgroup"):
            try:
                os.rmdir(os.path.join("/sys/fs/cgroup", ctl, CGROUP_PARENT.lstrip("/")))
            except OSError:
                pass
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pb_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
