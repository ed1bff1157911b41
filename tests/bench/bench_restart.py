#!/usr/bin/python3
"""Restart benchmark (issue 15 item 5): wincri against containerd 1.6 + runc (Debian's) on the
same machine, in the same run, with the same CNI conflist, image and gRPC client.

Per runtime, each on its own temp root, with --pods pods running (one `sleep 3600` container
each, from the suite's own busybox image; made by a few client threads, not timed):
  (a) resident memory of the runtime's own processes: wincrid + its stdio keeper (found by
      <state>/keeper/keeper.lock, or a /proc scan for `--stdio-keeper <state>`: after a
      restart it is no longer wincrid's child) vs containerd + every containerd-shim-runc-v2
      of its root; VmRSS and PSS (/proc/<pid>/smaps_rollup), each part on its own too, and
      the number of runtime processes per pod (total minus the node-level ones, over pods);
  (b) restart to ready, --restarts times: SIGKILL to the daemon only (wincrid; containerd),
      reap it, start it again on the same root and config, then poll (a fresh gRPC channel
      until one connects, every --poll-ms) until Status reports RuntimeReady and
      ListContainers lists all --pods containers, with the IDs made before, as RUNNING. The
      clock starts when the new process is spawned. Also recorded: until Version answers,
      until Status says RuntimeReady, and RSS after the last restart.
Prints a markdown table with both runtimes and the ratios wincri/containerd, also written to
--out (run.sh: build/bench/restart-table.md).

Network: bridge wcbrst0 + host-local on 10.94.0.0/16, no masquerade; an iptables FORWARD rule
drops anything from that subnet to outside it for the run; all of it is removed at the end.

Usage: /usr/bin/python3 tests/bench/bench_restart.py [--pods 50] [--restarts 5]
Env: WINCRID (default build/release/wincrid)."""
import argparse
import concurrent.futures
import datetime
import os
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

import benchlib  # noqa: E402
import containerd as C  # noqa: E402
import registry as R  # noqa: E402

CGROUP_PARENT = "/wcbrst"
APPLETS = ["sh", "sleep", "true"]
RPC_TIMEOUT = 120
PB = PB_GRPC = None


def ms(t0):
    return (time.perf_counter() - t0) * 1000


# ---- pods ----------------------------------------------------------------------------------

def run_pod(rt, name, ref, log_root):
    cfg = PB.PodSandboxConfig(
        metadata=PB.PodSandboxMetadata(name=name, namespace="wcbrst", uid=uuid.uuid4().hex),
        hostname=name, log_directory=os.path.join(log_root, name),
        labels={"app": "wcbrst"}, linux=PB.LinuxPodSandboxConfig(cgroup_parent=CGROUP_PARENT))
    os.makedirs(cfg.log_directory, exist_ok=True)
    sid = rt.RunPodSandbox(PB.RunPodSandboxRequest(config=cfg), timeout=RPC_TIMEOUT).pod_sandbox_id
    ccfg = PB.ContainerConfig(metadata=PB.ContainerMetadata(name="c0"),
                              image=PB.ImageSpec(image=ref), command=["/bin/sleep", "3600"],
                              log_path="c0.log")
    cid = rt.CreateContainer(PB.CreateContainerRequest(pod_sandbox_id=sid, config=ccfg,
                                                       sandbox_config=cfg),
                             timeout=RPC_TIMEOUT).container_id
    rt.StartContainer(PB.StartContainerRequest(container_id=cid), timeout=RPC_TIMEOUT)
    return cid


def remove_all(rt, workers):
    items = rt.ListPodSandbox(PB.ListPodSandboxRequest(), timeout=RPC_TIMEOUT).items

    def one(s):
        rt.StopPodSandbox(PB.StopPodSandboxRequest(pod_sandbox_id=s.id), timeout=RPC_TIMEOUT)
        rt.RemovePodSandbox(PB.RemovePodSandboxRequest(pod_sandbox_id=s.id), timeout=RPC_TIMEOUT)
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        list(ex.map(one, items))
    return len(items)


# ---- memory and processes ------------------------------------------------------------------

def snapshot(runtime, pods):
    """RSS/PSS of the runtime's own processes (host PID namespace), split into the daemon, the
    node-level helper (wincri's keeper) and the per-pod ones (containerd's shims)."""
    roots = runtime.pids()
    pids = C.tree(roots)
    daemon = [runtime.proc.pid] if runtime.proc.poll() is None else []
    keeper = [runtime.keeper_pid()] if hasattr(runtime, "keeper_pid") else []
    keeper = [k for k in keeper if k]
    rest = [p for p in pids if p not in daemon and p not in keeper]
    names = {}
    for p in pids:
        argv = C.cmdline(p)
        n = os.path.basename(argv[0]) if argv else "?"
        names[n] = names.get(n, 0) + 1
    return {
        "rss_kb": C.rss_kb(pids), "pss_kb": C.pss_kb(pids),
        "daemon_rss_kb": C.rss_kb(daemon), "daemon_pss_kb": C.pss_kb(daemon),
        "keeper_rss_kb": C.rss_kb(keeper), "keeper_pss_kb": C.pss_kb(keeper),
        "rest_rss_kb": C.rss_kb(rest), "rest_pss_kb": C.pss_kb(rest),
        "procs": len(pids), "keeper_found": bool(keeper), "names": names,
        "per_pod": (len(pids) - runtime.node_level()) / pods if pods else 0.0,
    }


# ---- restart -------------------------------------------------------------------------------

def poll_ready(endpoint, want_ids, t0, deadline_s, poll_ms):
    """Polls from t0 until Status says RuntimeReady and ListContainers lists want_ids all
    RUNNING; returns the ms (since t0) at which Version, RuntimeReady and that were seen."""
    import grpc
    seen = {}
    ch = None
    end = time.perf_counter() + deadline_s
    while time.perf_counter() < end:
        if ch is None:
            ch = grpc.insecure_channel(endpoint, options=[
                ("grpc.max_receive_message_length", 16 << 20)])
            rt = PB_GRPC.RuntimeServiceStub(ch)
        try:
            if "version" not in seen:
                rt.Version(PB.VersionRequest(), timeout=2)
                seen["version"] = ms(t0)
            if "runtime_ready" not in seen:
                conds = rt.Status(PB.StatusRequest(), timeout=2).status.conditions
                if any(c.type == "RuntimeReady" and c.status for c in conds):
                    seen["runtime_ready"] = ms(t0)
            if "runtime_ready" in seen:
                cs = rt.ListContainers(PB.ListContainersRequest(), timeout=5).containers
                running = {c.id for c in cs if c.state == PB.CONTAINER_RUNNING}
                if want_ids <= running:
                    seen["all_running"] = ms(t0)
                    ch.close()
                    return seen
        except grpc.RpcError:
            ch.close()  # a fresh channel next time: no reconnect backoff in the figure
            ch = None
        time.sleep(poll_ms / 1000)
    if ch is not None:
        ch.close()
    raise RuntimeError(f"not ready {deadline_s} s after the restart (seen: {seen})")


def restart_cycles(runtime, endpoint, cids, args, name):
    out = []
    want = set(cids)
    for i in range(args.restarts):
        runtime.kill9()
        t0 = time.perf_counter()
        runtime.start()
        seen = poll_ready(endpoint, want, t0, args.ready_timeout, args.poll_ms)
        out.append(seen)
        print(f"[{name}] restart {i + 1}: Version {seen['version']:.0f} ms, RuntimeReady "
              f"{seen['runtime_ready']:.0f} ms, all {len(want)} RUNNING "
              f"{seen['all_running']:.0f} ms", flush=True)
        time.sleep(args.settle)
    return out


def bench_runtime(name, runtime, ref, args, log_root):
    import grpc
    res = {"name": name}
    ch = grpc.insecure_channel(runtime.endpoint)
    rt = PB_GRPC.RuntimeServiceStub(ch)
    img = PB_GRPC.ImageServiceStub(ch)
    try:
        img.PullImage(PB.PullImageRequest(image=PB.ImageSpec(image=ref)), timeout=600)
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(args.workers) as ex:
            cids = list(ex.map(lambda i: run_pod(rt, f"{name}-r{i}", ref, log_root),
                               range(args.pods)))
        print(f"[{name}] {args.pods} pods started in {ms(t0) / 1000:.1f} s", flush=True)
        time.sleep(args.settle)
        res["before"] = snapshot(runtime, args.pods)
        b = res["before"]
        print(f"[{name}] {b['procs']} runtime processes {b['names']}, RSS "
              f"{b['rss_kb'] / 1024:.1f} MiB, PSS {b['pss_kb'] / 1024:.1f} MiB", flush=True)
        if name == "wincri" and not b["keeper_found"]:
            raise RuntimeError("wincri: no stdio keeper found (lock file or /proc scan)")
        ch.close()
        res["restarts"] = restart_cycles(runtime, runtime.endpoint, cids, args, name)
        res["after"] = snapshot(runtime, args.pods)
        ch = grpc.insecure_channel(runtime.endpoint)
        rt = PB_GRPC.RuntimeServiceStub(ch)
        n = len(rt.ListContainers(PB.ListContainersRequest(), timeout=RPC_TIMEOUT).containers)
        res["listed_after"] = n
    finally:
        try:
            t0 = time.perf_counter()
            n = remove_all(rt, args.workers)
            print(f"[{name}] cleanup: {n} pods removed in {ms(t0) / 1000:.1f} s", flush=True)
        finally:
            ch.close()
    return res


# ---- report --------------------------------------------------------------------------------

def med(vals):
    return statistics.median(vals) if vals else None


def report(res, args):
    w, c = res.get("wincri"), res.get("containerd")
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = (f"restart benchmark, {now}: {os.cpu_count()} cores, runc {benchlib.runc_version()}, "
            f"containerd {benchlib.containerd_version()}, {args.pods} pods x 1 running "
            f"container, {args.restarts} kill -9 restarts per runtime, poll every "
            f"{args.poll_ms} ms")
    lines = [head, "", "| metric | wincri | containerd | ratio |", "|---|---:|---:|---:|"]

    def row(label, f, fmt="{:.1f}"):
        wv = f(w) if w else None
        cv = f(c) if c else None  # None: not measured, or not applicable to that runtime
        r = f"{wv / cv:.2f}" if wv is not None and cv else "-"
        lines.append(f"| {label} | {fmt.format(wv) if wv is not None else '-'} | "
                     f"{fmt.format(cv) if cv is not None else '-'} | {r} |")

    mib = lambda k, when="before": (lambda r: r[when][k] / 1024)  # noqa: E731
    row(f"RSS, runtime total with {args.pods} pods, MiB", mib("rss_kb"))
    row(f"PSS, runtime total with {args.pods} pods, MiB", mib("pss_kb"))
    row("RSS of the daemon (wincrid / containerd), MiB", mib("daemon_rss_kb"))
    row("RSS of the stdio keeper (wincri), MiB", lambda r: r["before"]["keeper_rss_kb"] / 1024
        if r["name"] == "wincri" else None)
    row("PSS of the stdio keeper (wincri), MiB", lambda r: r["before"]["keeper_pss_kb"] / 1024
        if r["name"] == "wincri" else None)
    row("RSS of the shims (containerd), MiB", lambda r: r["before"]["rest_rss_kb"] / 1024
        if r["name"] == "containerd" else None)
    row("PSS of the shims (containerd), MiB", lambda r: r["before"]["rest_pss_kb"] / 1024
        if r["name"] == "containerd" else None)
    row("runtime processes (daemon + keeper / shims)", lambda r: r["before"]["procs"], "{:.0f}")
    row("runtime processes per pod", lambda r: r["before"]["per_pod"], "{:.2f}")
    for key, label in (("all_running", "restart to ready (RuntimeReady + all RUNNING)"),
                       ("runtime_ready", "restart to Status RuntimeReady"),
                       ("version", "restart to Version answered")):
        row(f"{label} p50, ms", lambda r: med([x[key] for x in r["restarts"]]), "{:.0f}")
    row("restart to ready, min, ms", lambda r: min(x["all_running"] for x in r["restarts"]),
        "{:.0f}")
    row("restart to ready, max, ms", lambda r: max(x["all_running"] for x in r["restarts"]),
        "{:.0f}")
    row("RSS after the last restart, runtime total, MiB", mib("rss_kb", "after"))
    lines += ["", "Memory: VmRSS and PSS of the runtime's processes in the host PID namespace "
              "(the containers' own processes are not counted for either runtime). Restart: "
              "SIGKILL to the daemon only; the clock starts when the new daemon is spawned."]
    return lines


# ---- main ----------------------------------------------------------------------------------

def main():
    global PB, PB_GRPC
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pods", type=int, default=50)
    ap.add_argument("--restarts", type=int, default=5)
    ap.add_argument("--poll-ms", type=float, default=5)
    ap.add_argument("--ready-timeout", type=float, default=120)
    ap.add_argument("--settle", type=float, default=1.0,
                    help="seconds to wait before a memory snapshot and between restarts")
    ap.add_argument("--workers", type=int, default=4, help="client threads for fill/cleanup")
    ap.add_argument("--runtimes", default="wincri,containerd")
    ap.add_argument("--subnet", default="10.94.0.0/16")
    ap.add_argument("--bridge", default="wcbrst0")
    ap.add_argument("--out", help="also write the table to this file")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_restart: needs root (network namespaces, runc)")
    binary = os.environ.get("WINCRID", os.path.join(REPO, "build", "release", "wincrid"))
    pb_dir, PB, PB_GRPC = benchlib.stubs()

    work = tempfile.mkdtemp(prefix="wcbench-rst-")
    cni_dir, ipam_dir, reg_dir, log_root = (os.path.join(work, d)
                                            for d in ("cni", "ipam", "registry", "logs"))
    for d in (cni_dir, ipam_dir, reg_dir, log_root):
        os.makedirs(d)
    benchlib.write_bridge_cni(cni_dir, ipam_dir, args.subnet, args.bridge, "wcbrst")
    rule = ["FORWARD", "-s", args.subnet, "!", "-d", args.subnet, "-j", "DROP"]
    subprocess.run(["iptables", "-I", *rule], check=True)
    reg = R.Registry(reg_dir)
    res = {}
    try:
        ref = f"{reg.host}/bench/restart:v1"
        R.Pusher(reg.url).image("bench/restart", "v1", benchlib.busybox_image(APPLETS))
        for name in args.runtimes.split(","):
            runtime = benchlib.Wincrid(binary, cni_dir) if name == "wincri" \
                else C.start(cni_dir, reg.port)
            try:
                res[name] = bench_runtime(name, runtime, ref, args, log_root)
            finally:
                runtime.stop()
            shutil.rmtree(ipam_dir, ignore_errors=True)
            os.makedirs(ipam_dir)
        lines = report(res, args)
        print("\n==== restart benchmark summary")
        print("\n".join(lines), flush=True)
        if args.out:
            with open(args.out, "w") as f:
                f.write("\n".join(lines) + "\n")
    finally:
        reg.stop()
        subprocess.run(["iptables", "-D", *rule], capture_output=True)
        subprocess.run(["ip", "link", "del", args.bridge], capture_output=True)
        for ctl in os.listdir("/sys/fs/cgroup"):
            try:
                os.rmdir(os.path.join("/sys/fs/cgroup", ctl, CGROUP_PARENT.lstrip("/")))
            except OSError:
                pass
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pb_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
