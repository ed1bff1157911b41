#!/usr/bin/python3
"""Streaming benchmark: wincri against containerd 1.6 (Debian's, CRI plugin, same runc, same
CNI conflist, same image) on the same machine, in the same run, with the same clients.

Per runtime, one pod with two containers (`sleep 3600`, and a busybox `nc -ll` that answers
each connection with --mib MiB of zeros):
  * exec round trip: Exec("echo hi") RPC + a full SPDY/3.1 remotecommand session (the Go
    client on Debian's docker/spdystream, tests/streaming/build.sh) until the exit status
    arrives; p50/p95 over --execs execs (after --warmup). The client process's own start is
    inside the figure, equally for both runtimes;
  * port-forward throughput: PortForward RPC + one SPDY portforward.k8s.io stream reading
    --mib MiB from the pod (MiB/s, best of --pf-runs), by a small Go downloader built here on
    the same spdystream. It never half-closes its data stream: containerd 1.6 ends the whole
    connection as soon as either direction ends, so a client that closes its (empty) upload
    gets a truncated download there.
Prints a table with both runtimes and the ratios wincri/containerd.

Network: bridge wcbstr0 + host-local on 10.95.0.0/24, no masquerade; an iptables FORWARD rule
drops anything from that subnet to outside it for the run; all of it is removed at the end.

Usage: /usr/bin/python3 tests/bench/bench_streaming.py [--execs 200] [--mib 256]
Env: WINCRID (default build/release/wincrid)."""
import argparse
import datetime
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

import registry as R  # noqa: E402
import benchlib  # noqa: E402

SPDY = os.path.join(REPO, "build", "streaming", "spdyclient")
PFDOWN = os.path.join(REPO, "build", "streaming", "pfdown")

# A port-forward downloader: opens the error and data streams for one port, reads the data
# stream to its end without ever closing its own side, prints the byte count.
PFDOWN_GO = r"""
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"

	"github.com/docker/spdystream"
)

func must(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "pfdown: %s: %v\n", what, err)
		os.Exit(2)
	}
}

func main() {
	u, err := url.Parse(os.Args[1])
	must(err, "url")
	conn, err := net.Dial("tcp", u.Host)
	must(err, "dial")
	req, _ := http.NewRequest("POST", os.Args[1], nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "SPDY/3.1")
	req.Header.Set("X-Stream-Protocol-Version", "portforward.k8s.io")
	must(req.Write(conn), "request")
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	must(err, "response")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		must(fmt.Errorf("HTTP %d", resp.StatusCode), "upgrade")
	}
	sc, err := spdystream.NewConnection(conn, false)
	must(err, "spdy")
	go sc.Serve(spdystream.NoOpStreamHandler)
	h := http.Header{}
	h.Set("port", os.Args[2])
	h.Set("requestID", "0")
	h.Set("streamType", "error")
	es, err := sc.CreateStream(h, nil, false)
	must(err, "error stream")
	must(es.Wait(), "error stream reply")
	es.Close()
	h.Set("streamType", "data")
	ds, err := sc.CreateStream(h, nil, false)
	must(err, "data stream")
	must(ds.Wait(), "data stream reply")
	n, _ := io.Copy(io.Discard, ds)
	fmt.Println(n)
	sc.Close()
}
"""


def build_pfdown():
    src = tempfile.mkdtemp(prefix="wcbench-go-")
    try:
        os.makedirs(os.path.join(src, "pfdown"))
        with open(os.path.join(src, "pfdown", "main.go"), "w") as f:
            f.write(PFDOWN_GO)
        cache = os.path.join(REPO, "build", "streaming", "gocache")
        os.makedirs(cache, exist_ok=True)
        env = dict(os.environ, GOPATH="/usr/share/gocode", GO111MODULE="off", GOFLAGS="",
                   GOPROXY="off", GOCACHE=cache)
        subprocess.run(["go", "build", "-o", PFDOWN, "."], cwd=os.path.join(src, "pfdown"),
                       env=env, check=True)
    finally:
        shutil.rmtree(src, ignore_errors=True)
APPLETS = ["sh", "sleep", "true", "echo", "cat", "nc", "head"]
PF_PORT = 9100
PB = PB_GRPC = None


def cri_ready(endpoint):
    import grpc
    ch = grpc.insecure_channel(endpoint)
    try:
        ch.unary_unary("/runtime.v1.RuntimeService/Version")(b"", timeout=1)
        return True
    except grpc.RpcError:
        return False
    finally:
        ch.close()


class Wincrid:
    """wincrid on a private temp root, state dir and socket."""

    def __init__(self, binary, cni_dir):
        self.dir = tempfile.mkdtemp(prefix="wcbench-st-")
        state = os.path.join(self.dir, "state")
        self.endpoint = "unix://" + os.path.join(state, "wincri.sock")
        cfg = {"root": os.path.join(self.dir, "root"), "state": state, "listen": self.endpoint,
               "log_level": "info", "shutdown_grace_seconds": 5,
               "cni_conf_dir": cni_dir, "cni_bin_dirs": ["/usr/lib/cni"]}
        path = os.path.join(self.dir, "config.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        self.log = open(os.path.join(self.dir, "wincrid.log"), "wb")
        self.proc = subprocess.Popen([binary, "--config", path], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while not cri_ready(self.endpoint):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("wincrid did not come up")
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        runc_root = os.path.join(self.dir, "state", "runc")
        if os.path.isdir(runc_root):
            for cid in os.listdir(runc_root):
                subprocess.run(["runc", "--root", runc_root, "delete", "-f", cid],
                               capture_output=True, timeout=30)
        subprocess.run(["umount", "-R", "-l", self.dir], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def pct(values, p):
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)] if s else float("nan")


class Pod:
    """One pod with a shell container and a zero-byte source on PF_PORT."""

    def __init__(self, endpoint, ref, mib, log_root):
        import grpc
        self.channel = grpc.insecure_channel(endpoint)
        self.rt = PB_GRPC.RuntimeServiceStub(self.channel)
        PB_GRPC.ImageServiceStub(self.channel).PullImage(
            PB.PullImageRequest(image=PB.ImageSpec(image=ref)), timeout=300)
        name = "st-" + uuid.uuid4().hex[:8]
        self.cfg = PB.PodSandboxConfig(
            metadata=PB.PodSandboxMetadata(name=name, namespace="wcbench", uid=uuid.uuid4().hex),
            hostname=name, log_directory=os.path.join(log_root, name))
        os.makedirs(self.cfg.log_directory, exist_ok=True)
        self.sid = self.rt.RunPodSandbox(PB.RunPodSandboxRequest(config=self.cfg),
                                         timeout=120).pod_sandbox_id
        self.shell = self.container("shell", ref, ["/bin/sleep", "3600"])
        src = f"head -c {mib * 1024 * 1024} /dev/zero"
        self.container("source", ref, ["nc", "-ll", "-p", str(PF_PORT), "-e", "sh", "-c", src])

    def container(self, name, ref, cmd):
        cc = PB.ContainerConfig(metadata=PB.ContainerMetadata(name=name),
                                image=PB.ImageSpec(image=ref), command=cmd,
                                log_path=f"{name}.log")
        cid = self.rt.CreateContainer(PB.CreateContainerRequest(
            pod_sandbox_id=self.sid, config=cc, sandbox_config=self.cfg), timeout=120).container_id
        self.rt.StartContainer(PB.StartContainerRequest(container_id=cid), timeout=120)
        return cid

    def exec_once(self):
        t0 = time.perf_counter()
        url = self.rt.Exec(PB.ExecRequest(container_id=self.shell, cmd=["echo", "hi"],
                                          stdout=True), timeout=30).url
        r = subprocess.run([SPDY, "exec", url], capture_output=True, timeout=60)
        dt = (time.perf_counter() - t0) * 1000
        if r.returncode != 0 or r.stdout != b"hi\n":
            raise RuntimeError(f"exec failed: {r.returncode} {r.stdout!r} {r.stderr[-300:]!r}")
        return dt

    def forward_once(self, mib):
        t0 = time.perf_counter()
        url = self.rt.PortForward(PB.PortForwardRequest(pod_sandbox_id=self.sid,
                                                        port=[PF_PORT]), timeout=30).url
        r = subprocess.run([PFDOWN, url, str(PF_PORT)], capture_output=True, timeout=600)
        dt = time.perf_counter() - t0
        got = int(r.stdout or b"0")
        if got != mib * 1024 * 1024:
            raise RuntimeError(f"port-forward got {got} bytes: {r.stderr[-300:]!r}")
        return mib / dt

    def remove(self):
        self.rt.StopPodSandbox(PB.StopPodSandboxRequest(pod_sandbox_id=self.sid), timeout=120)
        self.rt.RemovePodSandbox(PB.RemovePodSandboxRequest(pod_sandbox_id=self.sid),
                                 timeout=120)
        self.channel.close()


def wait_source(pod, mib):
    """The source container listens a moment after it starts (this run is the warm-up)."""
    deadline = time.time() + 20
    while True:
        try:
            return pod.forward_once(mib)
        except RuntimeError:
            if time.time() > deadline:
                raise
            time.sleep(0.3)


def bench(name, endpoint, ref, args, log_root):
    print(f"== {name}", flush=True)
    pod = Pod(endpoint, ref, args.mib, log_root)
    try:
        wait_source(pod, args.mib)
        for _ in range(args.warmup):
            pod.exec_once()
        lat = [pod.exec_once() for _ in range(args.execs)]
        tput = [pod.forward_once(args.mib) for _ in range(args.pf_runs)]
    finally:
        pod.remove()
    res = {"p50": pct(lat, 50), "p95": pct(lat, 95), "mibs": max(tput)}
    print(f"   exec p50 {res['p50']:.1f} ms, p95 {res['p95']:.1f} ms; "
          f"port-forward {res['mibs']:.0f} MiB/s", flush=True)
    return res


def table(res, args, skipped):
    w, c = res.get("wincri"), res.get("containerd")
    rows = [(f"exec `echo hi` p50 (ms, n={args.execs})", "p50", "{:.1f}"),
            ("exec `echo hi` p95 (ms)", "p95", "{:.1f}"),
            (f"port-forward {args.mib} MiB (MiB/s)", "mibs", "{:.0f}")]
    out = [f"streaming benchmark {datetime.date.today()} (SPDY/3.1 Go client for both)",
           f"{'metric':<36} {'wincri':>10} {'containerd':>11} {'wincri/ctd':>11}"]
    for label, key, fmt in rows:
        wv = fmt.format(w[key]) if w else "-"
        cv = fmt.format(c[key]) if c else "-"
        ratio = f"{w[key] / c[key]:.2f}" if w and c and c[key] else "-"
        out.append(f"{label:<36} {wv:>10} {cv:>11} {ratio:>11}")
    for name, why in skipped.items():
        out.append(f"{name}: not measured ({why})")
    return out


def start_containerd(cni_dir, reg_port):
    try:
        import containerd as C
    except ImportError as e:
        return None, f"tests/bench/containerd.py not usable: {e}"
    if not shutil.which("containerd"):
        return None, "containerd is not installed"
    try:
        return C.start(cni_dir, reg_port), None
    except Exception as e:  # noqa: BLE001  (report and go on with wincri's figures)
        return None, f"could not start: {str(e).splitlines()[0][:200]}"


def run_all(args, ref, reg_port, cni_dir, ipam_dir, log_root):
    res, skipped = {}, {}
    binary = os.environ.get("WINCRID", os.path.join(REPO, "build", "release", "wincrid"))
    for name in args.runtimes.split(","):
        if name == "wincri":
            rt, why = Wincrid(binary, cni_dir), None
        else:
            rt, why = start_containerd(cni_dir, reg_port)
        if rt is None:
            skipped[name] = why
            continue
        try:
            res[name] = bench(name, rt.endpoint, ref, args, log_root)
        except Exception as e:  # noqa: BLE001
            skipped[name] = f"failed: {str(e)[:200]}"
        finally:
            rt.stop()
            shutil.rmtree(ipam_dir, ignore_errors=True)
            os.makedirs(ipam_dir)
    return res, skipped


def main():
    global PB, PB_GRPC
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--execs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--pf-runs", type=int, default=3)
    ap.add_argument("--runtimes", default="wincri,containerd")
    ap.add_argument("--subnet", default="10.95.0.0/24")
    ap.add_argument("--bridge", default="wcbstr0")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_streaming: needs root (network namespaces, runc)")
    subprocess.run([os.path.join(REPO, "tests", "streaming", "build.sh")], check=True)
    if not os.path.exists(SPDY):
        sys.exit("bench_streaming: needs Go and golang-github-docker-spdystream-dev")
    build_pfdown()
    pb_dir, PB, PB_GRPC = benchlib.stubs()
    work = tempfile.mkdtemp(prefix="wcbench-stream-")
    cni_dir, ipam_dir, reg_dir, log_root = (os.path.join(work, d)
                                            for d in ("cni", "ipam", "registry", "logs"))
    for d in (cni_dir, ipam_dir, reg_dir, log_root):
        os.makedirs(d)
    benchlib.write_bridge_cni(cni_dir, ipam_dir, args.subnet, args.bridge, "wcbstream",
                              portmap=False)
    rule = ["FORWARD", "-s", args.subnet, "!", "-d", args.subnet, "-j", "DROP"]
    subprocess.run(["iptables", "-I", *rule], check=True)
    reg = R.Registry(reg_dir)
    try:
        ref = f"{reg.host}/bench/stream:v1"
        R.Pusher(reg.url).image("bench/stream", "v1", benchlib.busybox_image(APPLETS))
        res, skipped = run_all(args, ref, reg.port, cni_dir, ipam_dir, log_root)
        print("\n==== streaming benchmark summary")
        print("\n".join(table(res, args, skipped)), flush=True)
    finally:
        reg.stop()
        subprocess.run(["iptables", "-D", *rule], capture_output=True)
        subprocess.run(["ip", "link", "del", args.bridge], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pb_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
