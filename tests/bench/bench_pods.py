#!/usr/bin/python3
"""Pod benchmark: wincri against containerd 1.6 + runc (Debian's) on the same machine, in the
same run, with the same CNI conflist, the same images and the same gRPC client (stubs
generated from wincri's cri/api.proto; containerd 1.6 serves runtime.v1 too).

Per runtime, each on its own temp root:
  (a) p50/p95 of RunPodSandbox -> CreateContainer -> StartContainer (`sleep 3600`), --pods pods
      one after the other (after --warmup pods that are not counted);
  (d) RSS of the runtime's own processes with those pods running: wincrid (and anything it
      spawned that stays in the host PID namespace) vs containerd + every
      containerd-shim-runc-v2 of its root; the containers' processes are not counted;
  (e) extra runtime processes per pod (shims), counted, not assumed;
  (b) p50/p95 of StopPodSandbox + RemovePodSandbox over the same pods;
  (c) with --pods x --per-pod containers running (fresh pods; made by a few threads, not
      timed), p50/p95 of ListContainers and of ContainerStatus over --calls calls each;
      RSS and process count again.
Then prints a table with both runtimes, the ratios wincri/containerd and the date, a per-RPC
breakdown, and wincrid's own per-RPC duration_ms figures from its debug log.

Network: a bridge (wcbench0) + host-local conflist on 10.97.0.0/16 with no masquerade; an
iptables FORWARD rule drops anything from that subnet to outside it for the run. Everything
made (pods, netns, bridge, rule, roots, processes, cgroup parent /wcbench) is removed at the end.

Usage: /usr/bin/python3 tests/bench/bench_pods.py [--pods 50] [--per-pod 10] [--calls 200]
Env: WINCRID (default build/release/wincrid)."""
import argparse
import concurrent.futures
import datetime
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

import containerd as C  # noqa: E402
import registry as R  # noqa: E402
import benchlib  # noqa: E402

CGROUP_PARENT = "/wcbench"
APPLETS = ["sh", "sleep", "true", "echo", "cat"]
RPC_TIMEOUT = 120
PB = PB_GRPC = None


# ---- setup ---------------------------------------------------------------------------------

def forward_rule(subnet):
    return ["FORWARD", "-s", subnet, "!", "-d", subnet, "-j", "DROP"]


def netns_names():
    try:
        return set(os.listdir("/run/netns"))
    except FileNotFoundError:
        return set()


# ---- measuring -----------------------------------------------------------------------------

def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def ms(t0):
    return (time.perf_counter() - t0) * 1000


class Client:
    """The same python gRPC client for either runtime."""

    def __init__(self, endpoint, log_root):
        import grpc
        self.channel = grpc.insecure_channel(endpoint, options=[
            ("grpc.max_receive_message_length", 16 << 20)])
        self.rt = PB_GRPC.RuntimeServiceStub(self.channel)
        self.img = PB_GRPC.ImageServiceStub(self.channel)
        self.log_root = log_root
        self.rpc = {}  # method -> [ms]

    def _call(self, name, fn, req):
        t0 = time.perf_counter()
        resp = fn(req, timeout=RPC_TIMEOUT)
        self.rpc.setdefault(name, []).append(ms(t0))
        return resp

    def pull(self, ref):
        t0 = time.perf_counter()
        self.img.PullImage(PB.PullImageRequest(image=PB.ImageSpec(image=ref)), timeout=600)
        return ms(t0)

    def sandbox_config(self, name):
        cfg = PB.PodSandboxConfig(
            metadata=PB.PodSandboxMetadata(name=name, namespace="wcbench", uid=uuid.uuid4().hex,
                                           attempt=0),
            hostname=name, log_directory=os.path.join(self.log_root, name),
            labels={"app": "wcbench", "pod": name},
            linux=PB.LinuxPodSandboxConfig(cgroup_parent=CGROUP_PARENT))
        os.makedirs(cfg.log_directory, exist_ok=True)
        return cfg

    def run_pod(self, name):
        cfg = self.sandbox_config(name)
        sid = self._call("RunPodSandbox", self.rt.RunPodSandbox,
                         PB.RunPodSandboxRequest(config=cfg)).pod_sandbox_id
        return sid, cfg

    def start_container(self, sid, scfg, name, ref):
        ccfg = PB.ContainerConfig(metadata=PB.ContainerMetadata(name=name),
                                  image=PB.ImageSpec(image=ref), command=["/bin/sleep", "3600"],
                                  log_path=f"{name}.log", labels={"c": name})
        cid = self._call("CreateContainer", self.rt.CreateContainer,
                         PB.CreateContainerRequest(pod_sandbox_id=sid, config=ccfg,
                                                   sandbox_config=scfg)).container_id
        self._call("StartContainer", self.rt.StartContainer,
                   PB.StartContainerRequest(container_id=cid))
        return cid

    def remove_pod(self, sid):
        self._call("StopPodSandbox", self.rt.StopPodSandbox,
                   PB.StopPodSandboxRequest(pod_sandbox_id=sid))
        self._call("RemovePodSandbox", self.rt.RemovePodSandbox,
                   PB.RemovePodSandboxRequest(pod_sandbox_id=sid))

    def remove_all(self, workers):
        items = self.rt.ListPodSandbox(PB.ListPodSandboxRequest(), timeout=RPC_TIMEOUT).items
        with concurrent.futures.ThreadPoolExecutor(workers) as ex:
            list(ex.map(lambda s: self.remove_pod(s.id), items))
        return len(items)

    def close(self):
        self.channel.close()


def processes(runtime):
    """The runtime's own processes (host PID namespace) and a count by command name."""
    pids = C.tree(runtime.pids())
    names = {}
    for p in pids:
        argv = C.cmdline(p)
        n = os.path.basename(argv[0]) if argv else "?"
        names[n] = names.get(n, 0) + 1
    return pids, names


def snapshot(runtime, pods):
    pids, names = processes(runtime)
    return {"rss_kb": C.rss_kb(pids), "pss_kb": C.pss_kb(pids), "procs": len(pids),
            "names": names,
            "extra_per_pod": (len(pids) - runtime.node_level()) / pods if pods else 0.0}


def phase_warmup(cl, ref, warmup, tag):
    for i in range(warmup):
        sid, cfg = cl.run_pod(f"{tag}-warm{i}")
        cl.start_container(sid, cfg, "c0", ref)
        cl.remove_pod(sid)
    cl.rpc.clear()


def phase_start(cl, ref, pods, tag):
    times, sids = [], []
    for i in range(pods):
        t0 = time.perf_counter()
        sid, cfg = cl.run_pod(f"{tag}-a{i}")
        cl.start_container(sid, cfg, "c0", ref)
        times.append(ms(t0))
        sids.append(sid)
    return times, sids


def phase_stop(cl, sids):
    times = []
    for sid in sids:
        t0 = time.perf_counter()
        cl.remove_pod(sid)
        times.append(ms(t0))
    return times


def phase_fill(cl, ref, pods, per_pod, workers, tag):
    def one_pod(i):
        sid, cfg = cl.run_pod(f"{tag}-c{i}")
        return [cl.start_container(sid, cfg, f"c{k}", ref) for k in range(per_pod)]
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        cids = [c for lst in ex.map(one_pod, range(pods)) for c in lst]
    return cids, ms(t0) / 1000


def phase_queries(cl, cids, calls):
    rng = random.Random(42)
    lst, st = [], []
    n = 0
    for _ in range(calls):
        t0 = time.perf_counter()
        n = len(cl.rt.ListContainers(PB.ListContainersRequest(), timeout=RPC_TIMEOUT).containers)
        lst.append(ms(t0))
    for _ in range(calls):
        cid = rng.choice(cids)
        t0 = time.perf_counter()
        s = cl.rt.ContainerStatus(PB.ContainerStatusRequest(container_id=cid),
                                  timeout=RPC_TIMEOUT).status
        st.append(ms(t0))
        if s.state != PB.CONTAINER_RUNNING:
            raise RuntimeError(f"container {cid[:12]} is {s.state}, not running")
    return lst, st, n


def bench_runtime(name, runtime, ref, args, log_root):
    """Runs (a)-(e) on one started runtime; leaves no pod behind."""
    cl = Client(runtime.endpoint, os.path.join(log_root, name))
    res = {"name": name}
    try:
        res["pull_ms"] = cl.pull(ref)
        if name == "containerd":
            res["pause_pull_ms"] = cl.pull(runtime.sandbox_image)
        print(f"[{name}] image pulled in {res['pull_ms']:.0f} ms", flush=True)
        phase_warmup(cl, ref, args.warmup, name)
        mark = getattr(runtime, "log_mark", lambda: 0)
        res["marks"] = [mark()]
        res["start"], sids = phase_start(cl, ref, args.pods, name)
        res["marks"].append(mark())
        res["start_rpc"] = {k: list(v) for k, v in cl.rpc.items()}
        print(f"[{name}] {args.pods} pods started: p50 {statistics.median(res['start']):.0f} ms",
              flush=True)
        time.sleep(1)
        res["snap_pods"] = snapshot(runtime, args.pods)
        print(f"[{name}] {res['snap_pods']['procs']} runtime processes "
              f"{res['snap_pods']['names']}, RSS {res['snap_pods']['rss_kb'] / 1024:.1f} MiB",
              flush=True)
        cl.rpc.clear()
        res["marks"].append(mark())
        res["stop"] = phase_stop(cl, sids)
        res["marks"].append(mark())
        res["stop_rpc"] = {k: list(v) for k, v in cl.rpc.items()}
        print(f"[{name}] {args.pods} pods stopped+removed: p50 "
              f"{statistics.median(res['stop']):.0f} ms", flush=True)
        cids, fill_s = phase_fill(cl, ref, args.pods, args.per_pod, args.workers, name)
        res["fill_s"] = fill_s
        print(f"[{name}] {len(cids)} containers in {args.pods} pods started in {fill_s:.1f} s "
              f"({args.workers} client threads)", flush=True)
        res["marks"].append(mark())
        res["list"], res["status"], res["listed"] = phase_queries(cl, cids, args.calls)
        res["marks"].append(mark())
        res["containers"] = len(cids)
        time.sleep(1)
        res["snap_full"] = snapshot(runtime, args.pods)
        print(f"[{name}] ListContainers p50 {statistics.median(res['list']):.1f} ms, "
              f"ContainerStatus p50 {statistics.median(res['status']):.1f} ms; RSS "
              f"{res['snap_full']['rss_kb'] / 1024:.1f} MiB", flush=True)
    finally:
        t0 = time.perf_counter()
        n = cl.remove_all(args.workers)
        print(f"[{name}] cleanup: {n} pods removed in {ms(t0) / 1000:.1f} s", flush=True)
        cl.close()
    return res


# ---- wincrid's own view --------------------------------------------------------------------

RPC_LINE = re.compile(r"method=/runtime\.v1\.\w+/(\w+) code=(\w+) duration_ms=([0-9.]+)")
TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z")
CNI_LINE = re.compile(r'msg="running plugin" plugin=(\S+) command=(\S+)')


def server_rpc_times(log_text):
    out = {}
    for m in RPC_LINE.finditer(log_text):
        out.setdefault(m.group(1), []).append(float(m.group(3)))
    return out


def _ts(line):
    m = TS.match(line)
    return datetime.datetime.fromisoformat(m.group(1)).timestamp() * 1000 if m else None


def cni_call_times(log_text):
    """plugin+command -> [ms] from each "running plugin" debug line to the next log line.
    Meaningful only where calls are sequential (the timed phases)."""
    lines = log_text.splitlines()
    out = {}
    for i, line in enumerate(lines[:-1]):
        m = CNI_LINE.search(line)
        t0, t1 = _ts(line), _ts(lines[i + 1])
        if m and t0 is not None and t1 is not None:
            out.setdefault(f"{m.group(1)} {m.group(2)}", []).append(t1 - t0)
    return out


def wincrid_view(runtime, marks):
    """wincrid's own per-RPC durations and CNI plugin call times in the timed phases
    (pod start, pod stop+remove, queries)."""
    segs = [(marks[0], marks[1]), (marks[2], marks[3]), (marks[4], marks[5])]
    text = "".join(runtime.log_text(a, b) for a, b in segs[:2])
    rpc = server_rpc_times(text)
    for k, v in server_rpc_times(runtime.log_text(*segs[2])).items():
        rpc.setdefault(k, []).extend(v)
    return rpc, cni_call_times(text)


# ---- report --------------------------------------------------------------------------------

def ratio(a, b):
    return f"{a / b:.2f}" if b else "-"


def row(label, w, c, fmt="{:.1f}"):
    wv = fmt.format(w) if w is not None else "-"
    cv = fmt.format(c) if c is not None else "-"
    return f"| {label:<44} | {wv:>10} | {cv:>10} | {ratio(w, c) if None not in (w, c) else '-':>8} |"


def report(res, args, subnet):
    w, c = res.get("wincri"), res.get("containerd")
    get = (lambda r, f: f(r) if r else None)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    ctrs = (w or c)["containers"]
    lines = [f"pod benchmark, {now}: {os.cpu_count()} cores, runc {runc_version()}, "
             f"containerd {containerd_version()}, pods={args.pods}, "
             f"containers={ctrs}, calls={args.calls}, CNI bridge+host-local {subnet}",
             "", f"| {'metric':<44} | {'wincri':>10} | {'containerd':>10} | {'ratio':>8} |",
             f"|{'-' * 46}|{'-' * 12}|{'-' * 12}|{'-' * 10}|"]
    for p in (50, 95):
        lines.append(row(f"pod start p{p} (Run+Create+Start), ms",
                         get(w, lambda r: pct(r["start"], p)), get(c, lambda r: pct(r["start"], p))))
    for p in (50, 95):
        lines.append(row(f"pod stop+remove p{p}, ms",
                         get(w, lambda r: pct(r["stop"], p)), get(c, lambda r: pct(r["stop"], p))))
    for key, label in (("list", "ListContainers"), ("status", "ContainerStatus")):
        for p in (50, 95):
            lines.append(row(f"{label} p{p} ({ctrs} running), ms",
                             get(w, lambda r: pct(r[key], p)), get(c, lambda r: pct(r[key], p)),
                             "{:.2f}"))
    lines.append(row(f"RSS with {args.pods} pods running, MiB",
                     get(w, lambda r: r["snap_pods"]["rss_kb"] / 1024),
                     get(c, lambda r: r["snap_pods"]["rss_kb"] / 1024)))
    lines.append(row(f"PSS with {args.pods} pods running, MiB",
                     get(w, lambda r: r["snap_pods"]["pss_kb"] / 1024),
                     get(c, lambda r: r["snap_pods"]["pss_kb"] / 1024)))
    lines.append(row(f"RSS with {ctrs} containers running, MiB",
                     get(w, lambda r: r["snap_full"]["rss_kb"] / 1024),
                     get(c, lambda r: r["snap_full"]["rss_kb"] / 1024)))
    lines.append(row("runtime processes with the pods running",
                     get(w, lambda r: r["snap_pods"]["procs"]),
                     get(c, lambda r: r["snap_pods"]["procs"]), "{:.0f}"))
    lines.append(row("extra processes per pod",
                     get(w, lambda r: r["snap_pods"]["extra_per_pod"]),
                     get(c, lambda r: r["snap_pods"]["extra_per_pod"]), "{:.2f}"))
    if w and c:
        st = pct(w["start"], 50) / pct(c["start"], 50)
        mem = w["snap_pods"]["rss_kb"] / c["snap_pods"]["rss_kb"]
        lines += ["", f"pod start wincri/containerd (p50): {st:.2f} (target <= 0.50: "
                  f"{'met' if st <= 0.5 else 'NOT met'})",
                  f"memory wincri/containerd ({args.pods} pods): {mem:.2f} (target <= 0.20: "
                  f"{'met' if mem <= 0.2 else 'NOT met'})",
                  f"extra processes per pod: wincri {w['snap_pods']['extra_per_pod']:.2f}, "
                  f"containerd {c['snap_pods']['extra_per_pod']:.2f} (target: 0 for wincri)"]
    return lines


def rpc_breakdown(res):
    lines = ["", "per-RPC client latency during the timed phases, p50/p95 ms:"]
    for name in ("wincri", "containerd"):
        r = res.get(name)
        if not r:
            continue
        parts = [f"{m} {pct(v, 50):.0f}/{pct(v, 95):.0f}"
                 for m, v in list(r["start_rpc"].items()) + list(r["stop_rpc"].items())]
        lines.append(f"  {name:<10} " + ", ".join(parts))
    if res.get("wincrid_rpc"):
        lines.append("wincrid's own per-RPC duration_ms in the timed phases (debug log), "
                     "n p50/p95/max:")
        for m, v in sorted(res["wincrid_rpc"].items(), key=lambda kv: -pct(kv[1], 50)):
            lines.append(f"  {m:<22} n={len(v):<5} {pct(v, 50):8.2f} {pct(v, 95):8.2f} "
                         f"{max(v):8.2f}")
    if res.get("wincrid_cni"):
        lines.append("wincrid CNI plugin calls in the timed phases (debug log, to the next line), "
                     "n p50/p95/max ms, calls >= 190 ms:")
        for m, v in sorted(res["wincrid_cni"].items()):
            slow = sum(1 for x in v if x >= 190)
            lines.append(f"  {m:<22} n={len(v):<5} {pct(v, 50):8.1f} {pct(v, 95):8.1f} "
                         f"{max(v):8.1f}  {slow}")
    return lines


def runc_version():
    out = subprocess.run(["runc", "--version"], capture_output=True, text=True).stdout
    return out.split()[2] if out else "?"


def containerd_version():
    out = subprocess.run(["containerd", "--version"], capture_output=True, text=True).stdout
    return out.split()[2] if out else "?"


# ---- main ----------------------------------------------------------------------------------

def main():
    global PB, PB_GRPC
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pods", type=int, default=50)
    ap.add_argument("--per-pod", type=int, default=10, help="containers per pod in phase (c)")
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--workers", type=int, default=4, help="client threads for fill/cleanup")
    ap.add_argument("--runtimes", default="wincri,containerd")
    ap.add_argument("--subnet", default="10.97.0.0/16")
    ap.add_argument("--bridge", default="wcbench0")
    ap.add_argument("--wincri-log-level", default="debug")
    ap.add_argument("--out", help="also write the table to this file")
    ap.add_argument("--keep-wincrid-log", metavar="PATH", help="copy wincrid's log here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_pods: needs root (network namespaces, runc)")
    binary = os.environ.get("WINCRID", os.path.join(REPO, "build", "release", "wincrid"))
    pb_dir, PB, PB_GRPC = benchlib.stubs()

    work = tempfile.mkdtemp(prefix="wcbench-pods-")
    cni_dir, ipam_dir, reg_dir, log_root = (os.path.join(work, d)
                                            for d in ("cni", "ipam", "registry", "logs"))
    for d in (cni_dir, ipam_dir, reg_dir, log_root):
        os.makedirs(d)
    benchlib.write_bridge_cni(cni_dir, ipam_dir, args.subnet, args.bridge, "wcbench",
                              portmap=True)
    rule = forward_rule(args.subnet)
    subprocess.run(["iptables", "-I", *rule], check=True)
    netns_before = netns_names()
    reg = R.Registry(reg_dir)
    res = {}
    try:
        ref = f"{reg.host}/bench/pod:v1"
        R.Pusher(reg.url).image("bench/pod", "v1", benchlib.busybox_image(APPLETS))
        for name in args.runtimes.split(","):
            runtime = benchlib.Wincrid(binary, cni_dir, args.wincri_log_level) \
                if name == "wincri" else C.start(cni_dir, reg.port)
            try:
                res[name] = bench_runtime(name, runtime, ref, args, log_root)
            finally:
                if name == "wincri" and len(res.get(name, {}).get("marks", [])) == 6:
                    res["wincrid_rpc"], res["wincrid_cni"] = wincrid_view(runtime,
                                                                          res[name]["marks"])
                    if args.keep_wincrid_log:
                        shutil.copy(runtime.log_path, args.keep_wincrid_log)
                runtime.stop()
            shutil.rmtree(ipam_dir, ignore_errors=True)  # each runtime starts from a clean IPAM
            os.makedirs(ipam_dir)
        lines = report(res, args, args.subnet) + rpc_breakdown(res)
        print("\n==== pod benchmark summary")
        print("\n".join(lines), flush=True)
        if args.out:
            with open(args.out, "w") as f:
                f.write("\n".join(lines) + "\n")
    finally:
        reg.stop()
        subprocess.run(["iptables", "-D", *rule], capture_output=True)
        subprocess.run(["ip", "link", "del", args.bridge], capture_output=True)
        left = netns_names() - netns_before  # others' tests may make netns too: only report
        if left:
            print(f"note: {len(left)} network namespaces appeared during the run and remain "
                  f"(not necessarily this benchmark's): {sorted(left)[:5]}", flush=True)
        for ctl in os.listdir("/sys/fs/cgroup"):
            try:
                os.rmdir(os.path.join("/sys/fs/cgroup", ctl, CGROUP_PARENT.lstrip("/")))
            except OSError:
                pass
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pb_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
