#!/usr/bin/python3
"""Where a CRI call's time goes, by system call: runs a cycle of CRI calls against wincri or
containerd (on a private root, like the benchmarks) with strace attached to the runtime's
processes, and attributes each traced system call to the call whose client-side time window
it falls in (one call at a time, so nothing overlaps).

Prints per CRI call: client median ms; the traced processes' fsync/fdatasync/syncfs count
and ms; SQLite write transactions (wincri: fdatasync of a *-wal file; containerd: bolt's
fdatasync of meta.db, shown separately); unlink/rmdir count and ms; renames; processes
executed (execve, by program) and their wall time; and the system calls that took the most
time in total. strace slows system calls down, so the ms are for comparing, not absolute.
Work a runtime does in the background after answering (wincri's image reaper, containerd's
GC when asynchronous) is counted in whichever call's window it happens.

  wincri: wincrid and its stdio keeper are traced (-f: runc, CNI plugins, children);
  containerd: containerd and every shim that exists when tracing starts, -f (new shims,
  runc, CNI plugins).

--perf uses perf's tracepoints (process fork/exec/exit, and the sync, mount, unlink/rmdir
and rename system calls) system-wide instead of ptrace, filtered to the runtime's process
tree: the client ms and the programs' wall times are then what they are untraced (strace
makes runc take 5-7 times as long); the other columns count only those system calls.
--light is strace limited to those calls (--seccomp-bpf), for runc's arguments (its verb is
shown: runc create, runc state ...).

Usage: /usr/bin/python3 tests/bench/syscalls_per_call.py --runtime wincri --cycle image
       [--cycle pod] [-n 10] [--warmup 3] [--perf | --light] [--top 4] [--keep-trace PATH]
Env: WINCRID (default build/release/wincrid)."""
import argparse
import os
import re
import shutil
import signal
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

PB = PB_GRPC = None
LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(?:<\.\.\. )?(\w+)(?:\(| resumed>)(.*?)"
                  r"(?:<(\d+\.\d+)>)?$")
SYNC = {"fsync", "fdatasync", "syncfs", "sync_file_range", "sync"}
REMOVE = {"unlink", "unlinkat", "rmdir"}
RENAME = {"rename", "renameat", "renameat2"}
TOP = 4  # system calls listed per CRI call (--top)
RUNC_VERB = re.compile(r'\.*, "(create|start|state|delete|kill|ps|exec|update|events|features|'
                       r'pause|resume|list|run|init)"')
LIGHT = sorted(SYNC - {"sync"} | REMOVE | RENAME |
               {"execve", "clone", "clone3", "fork", "vfork", "exit_group", "wait4", "mount",
                "umount2"})


class Cycle:
    def __init__(self, rt, img, ref, small_ref, log_root):
        self.rt, self.img, self.ref, self.small_ref = rt, img, ref, small_ref
        self.log_root = log_root
        self.windows = []  # (op, t0, t1): wall clock for strace, CLOCK_MONOTONIC for perf
        self.ms = {}
        self.clock = time.time

    def call(self, op, fn, req, timeout=120):
        t0 = self.clock()
        resp = fn(req, timeout=timeout)
        t1 = self.clock()
        self.windows.append((op, t0, t1))
        self.ms.setdefault(op, []).append((t1 - t0) * 1000)
        return resp

    def image(self):
        spec = PB.ImageSpec(image=self.small_ref)
        ref = self.call("PullImage", self.img.PullImage, PB.PullImageRequest(image=spec)).image_ref
        self.call("ImageStatus", self.img.ImageStatus, PB.ImageStatusRequest(image=spec))
        self.call("ListImages", self.img.ListImages, PB.ListImagesRequest())
        self.call("RemoveImage", self.img.RemoveImage,
                  PB.RemoveImageRequest(image=PB.ImageSpec(image=ref)))

    def pod(self):
        name = "p" + uuid.uuid4().hex[:8]
        cfg = PB.PodSandboxConfig(
            metadata=PB.PodSandboxMetadata(name=name, namespace="wcbsys", uid=uuid.uuid4().hex),
            hostname=name, log_directory=os.path.join(self.log_root, name),
            linux=PB.LinuxPodSandboxConfig(cgroup_parent="/wcbsys"))
        os.makedirs(cfg.log_directory, exist_ok=True)
        sid = self.call("RunPodSandbox", self.rt.RunPodSandbox,
                        PB.RunPodSandboxRequest(config=cfg)).pod_sandbox_id
        self.call("PodSandboxStatus", self.rt.PodSandboxStatus,
                  PB.PodSandboxStatusRequest(pod_sandbox_id=sid))
        ccfg = PB.ContainerConfig(metadata=PB.ContainerMetadata(name="c0"),
                                  image=PB.ImageSpec(image=self.ref), command=["/pause"],
                                  log_path="c0.log")
        cid = self.call("CreateContainer", self.rt.CreateContainer,
                        PB.CreateContainerRequest(pod_sandbox_id=sid, config=ccfg,
                                                  sandbox_config=cfg)).container_id
        self.call("StartContainer", self.rt.StartContainer,
                  PB.StartContainerRequest(container_id=cid))
        self.call("ContainerStatus", self.rt.ContainerStatus,
                  PB.ContainerStatusRequest(container_id=cid))
        self.call("ListContainers", self.rt.ListContainers, PB.ListContainersRequest())
        self.call("StopContainer", self.rt.StopContainer,
                  PB.StopContainerRequest(container_id=cid, timeout=10))
        self.call("RemoveContainer", self.rt.RemoveContainer,
                  PB.RemoveContainerRequest(container_id=cid))
        self.call("StopPodSandbox", self.rt.StopPodSandbox,
                  PB.StopPodSandboxRequest(pod_sandbox_id=sid))
        self.call("RemovePodSandbox", self.rt.RemovePodSandbox,
                  PB.RemovePodSandboxRequest(pod_sandbox_id=sid))


def parse(path):
    """(pid, t, name, args, dur) for every completed system call in strace -f -ttt -T -y, and
    each process's life {pid: [first t, last t]} (for the wall time of what was executed)."""
    out, pending, life = [], {}, {}
    with open(path, errors="replace") as f:
        for line in f:
            parts = line.split(None, 2)
            if len(parts) >= 2 and parts[0].isdigit():
                try:
                    t = float(parts[1])
                    span = life.setdefault(parts[0], [t, t])
                    span[1] = max(span[1], t)
                except ValueError:
                    pass
            m = LINE.match(line.rstrip("\n"))
            if not m:
                continue
            pid, t, name, rest, dur = m.groups()
            if "<unfinished ..." in rest:
                pending[(pid, name)] = (float(t), rest)
                continue
            if line.find(" resumed>") >= 0:
                t0, first = pending.pop((pid, name), (float(t), ""))
                out.append((pid, t0, name, first + rest, float(dur or 0)))
            else:
                out.append((pid, float(t), name, rest, float(dur or 0)))
    return out, life


# ---- perf: tracepoints instead of ptrace --------------------------------------------------

PERF_SYSCALLS = ["fsync", "fdatasync", "syncfs", "mount", "umount", "unlinkat", "unlink", "rmdir",
                 "renameat2", "renameat", "rename"]  # umount: the tracepoint of umount2
PERF_LINE = re.compile(r"^\s*(.+?)\s+(\d+)/(\d+)\s+(\d+\.\d+):\s+(\S+):\s*(.*)$")


def perf_cmd(out):
    events = ["sched:sched_process_fork", "sched:sched_process_exec", "sched:sched_process_exit"]
    for sc in PERF_SYSCALLS:
        events += [f"syscalls:sys_enter_{sc}", f"syscalls:sys_exit_{sc}"]
    return ["perf", "record", "-a", "-k", "1", "-q", "-e", ",".join(events), "-o", out]


def fd_paths(pids):
    """{(pid, fd): path} of the runtime's open files now (the databases' -wal files)."""
    out = {}
    for pid in pids:
        d = f"/proc/{pid}/fd"
        for fd in os.listdir(d) if os.path.isdir(d) else []:
            try:
                out[(pid, int(fd))] = os.readlink(os.path.join(d, fd))
            except OSError:
                pass
    return out


def parse_perf(path, roots, fds):
    """System calls (pid, t, name, args, dur) and process lives of the runtime's processes
    (roots and everything they fork), from a perf record of perf_cmd's events. Times are
    CLOCK_MONOTONIC seconds. args is what strace would show for the fd, when known."""
    text = subprocess.run(["perf", "script", "-i", path, "-F", "comm,pid,tid,time,event,trace"],
                          capture_output=True, text=True).stdout
    members = set(roots)
    for r in roots:
        try:
            members.update(int(t) for t in os.listdir(f"/proc/{r}/task"))
        except OSError:
            pass
    calls, life, enter, progs = [], {}, {}, {}
    for line in text.splitlines():
        m = PERF_LINE.match(line)
        if not m:
            continue
        comm, pid, tid, t, ev, rest = m.groups()
        pid, tid, t = int(pid), int(tid), float(t)
        if ev == "sched:sched_process_fork":
            if pid in members or tid in members:
                child = re.search(r"child_pid=(\d+)", rest)
                if child:
                    members.add(int(child.group(1)))
            continue
        if pid not in members and tid not in members:
            continue
        if ev == "sched:sched_process_exec":
            fn = re.search(r"filename=(\S+)", rest)
            life[str(pid)] = [t, t]
            progs[pid] = fn.group(1) if fn else "?"
            calls.append((str(pid), t, "execve", f'"{progs[pid]}"', 0.0))
        elif ev == "sched:sched_process_exit":
            if str(pid) in life:
                life[str(pid)][1] = max(life[str(pid)][1], t)
        elif ev.startswith("syscalls:sys_enter_"):
            fd = re.search(r"fd: (0x[0-9a-f]+)", rest)
            arg = fds.get((pid, int(fd.group(1), 16)), "") if fd else ""
            name = ev[len("syscalls:sys_enter_"):].replace("umount", "umount2")
            enter[tid] = (t, name, f"<{arg}>" if arg else rest)
        elif ev.startswith("syscalls:sys_exit_") and tid in enter:
            t0, name, args = enter.pop(tid)
            ret = re.search(r"(0x[0-9a-f]+|-?\d+)\s*$", rest)
            failed = ret and ret.group(1).startswith("0xffff")
            calls.append((str(pid), t0, name, args + (" = -1" if failed else ""), t - t0))
    return calls, life


def attribute(calls, windows):
    windows = sorted(windows, key=lambda w: w[1])
    per = {}
    i = 0
    for pid, t, name, args, dur in sorted(calls, key=lambda c: c[1]):
        while i < len(windows) and windows[i][2] < t:
            i += 1
        if i == len(windows):
            break
        op, t0, t1 = windows[i]
        if t < t0:
            continue  # between calls: background work
        per.setdefault(op, []).append((pid, name, args, dur))
    return per


def summarise(per, life, ms, runtime):
    n_of = {op: len(v) for op, v in ms.items()}
    lines = [f"{'call':<18} {'client':>7} {'sync n/ms':>12} {'txn':>5} {'rm n/ms':>11} "
             f"{'rename':>6}  execs (n, wall ms) / top syscalls by time (per call)"]
    order = ["RunPodSandbox", "PodSandboxStatus", "CreateContainer", "StartContainer",
             "ContainerStatus", "ListContainers", "StopContainer", "RemoveContainer",
             "StopPodSandbox", "RemovePodSandbox", "PullImage", "ImageStatus", "ListImages",
             "RemoveImage"]
    for op in [o for o in order if o in ms]:
        n = n_of[op]
        evs = per.get(op, [])
        syncs = [e for e in evs if e[1] in SYNC]
        if runtime == "wincri":
            txn = sum(1 for e in syncs if "-wal>" in e[2])
        else:
            txn = sum(1 for e in syncs if "meta.db>" in e[2])
        rms = [e for e in evs if e[1] in REMOVE and "= -1" not in e[2]]
        ren = [e for e in evs if e[1] in RENAME]
        execs, wall = {}, {}
        for e in evs:
            if e[1] == "execve" and "= -1" not in e[2]:
                prog = os.path.basename(e[2].split('"')[1]) if '"' in e[2] else "?"
                verb = RUNC_VERB.search(e[2]) if prog == "runc" else None
                prog += f" {verb.group(1)}" if verb else ""
                execs[prog] = execs.get(prog, 0) + 1
                span = life.get(e[0])
                wall[prog] = wall.get(prog, 0) + (span[1] - span[0] if span else 0)
        tot = {}
        for e in evs:
            if e[1] in ("futex", "epoll_wait", "epoll_pwait", "poll", "ppoll", "wait4",
                        "restart_syscall", "nanosleep", "clock_nanosleep", "select",
                        "pselect6", "waitid", "rt_sigtimedwait", "read", "recvmsg",
                        "recvfrom", "accept4"):
                continue  # waiting, not working
            tot[e[1]] = tot.get(e[1], 0) + e[3]
        top = sorted(tot.items(), key=lambda kv: -kv[1])[:TOP]
        ex = ", ".join(f"{k} {v / n:.1f} ({wall[k] * 1000 / n:.1f} ms)"
                       for k, v in sorted(execs.items()))
        tp = ", ".join(f"{k} {v * 1000 / n:.2f}ms" for k, v in top)
        lines.append(
            f"{op:<18} {statistics.median(ms[op]):7.2f} "
            f"{len(syncs) / n:5.1f}/{sum(e[3] for e in syncs) * 1000 / n:6.2f} "
            f"{txn / n:5.1f} {len(rms) / n:4.1f}/{sum(e[3] for e in rms) * 1000 / n:6.2f} "
            f"{len(ren) / n:6.1f}  {'execs: ' + ex + '; ' if ex else ''}{tp}")
    return lines


def main():
    global PB, PB_GRPC
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runtime", choices=["wincri", "containerd"], default="wincri")
    ap.add_argument("--cycle", action="append", choices=["image", "pod"])
    ap.add_argument("-n", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--keep-trace", metavar="PATH")
    ap.add_argument("--top", type=int, default=4, help="system calls listed per CRI call")
    ap.add_argument("--perf", action="store_true",
                    help="perf tracepoints instead of strace: no ptrace, so client ms and the "
                         "programs' wall times are what they are untraced (counts: processes, "
                         "syncs, mounts, unlink/rmdir/rename)")
    ap.add_argument("--light", action="store_true",
                    help="trace only processes, syncs, mounts, unlink/rmdir/rename "
                         "(--seccomp-bpf): the rest runs at full speed, so the client ms and "
                         "the programs' wall times are close to untraced ones")
    args = ap.parse_args()
    cycles = args.cycle or ["image", "pod"]
    global TOP
    TOP = args.top
    if os.geteuid() != 0:
        sys.exit("syscalls_per_call: needs root")
    import grpc
    binary = os.environ.get("WINCRID", os.path.join(REPO, "build", "release", "wincrid"))
    pb_dir, PB, PB_GRPC = benchlib.stubs()
    work = tempfile.mkdtemp(prefix="wcbench-sys-")
    cni_dir, ipam_dir = os.path.join(work, "cni"), os.path.join(work, "ipam")
    os.makedirs(cni_dir)
    os.makedirs(ipam_dir)
    subnet, bridge = "10.91.0.0/16", "wcbsys0"
    benchlib.write_bridge_cni(cni_dir, ipam_dir, subnet, bridge, "wcbsys")
    rule = ["FORWARD", "-s", subnet, "!", "-d", subnet, "-j", "DROP"]
    subprocess.run(["iptables", "-I", *rule], check=True)
    reg = R.Registry(os.path.join(work, "registry"))
    rt = tracer = None
    trace = os.path.join(work, "strace.out")
    try:
        pusher = R.Pusher(reg.url)
        pusher.image("bench/ops", "v1", benchlib.busybox_image(
            ["sh"], extra={"pause": (C.pause_binary(), 0o755)}, cmd=["/pause"]))
        pusher.image("bench/small", "v1", benchlib.busybox_image(["sh", "true"]))
        ref, small = f"{reg.host}/bench/ops:v1", f"{reg.host}/bench/small:v1"
        rt = benchlib.Wincrid(binary, cni_dir) if args.runtime == "wincri" \
            else C.start(cni_dir, reg.port)
        ch = grpc.insecure_channel(rt.endpoint)
        cyc = Cycle(PB_GRPC.RuntimeServiceStub(ch), PB_GRPC.ImageServiceStub(ch), ref, small,
                    os.path.join(work, "logs"))
        cyc.img.PullImage(PB.PullImageRequest(image=PB.ImageSpec(image=ref)), timeout=120)
        if args.runtime == "containerd":
            cyc.img.PullImage(PB.PullImageRequest(image=PB.ImageSpec(image=rt.sandbox_image)),
                              timeout=120)
        for _ in range(args.warmup):
            for c in cycles:
                getattr(cyc, c)()
        cyc.windows, cyc.ms = [], {}
        pids = rt.pids()
        if args.perf:
            fds = fd_paths(pids)
            cmd = perf_cmd(trace)
            cyc.clock = lambda: time.clock_gettime(time.CLOCK_MONOTONIC)
        else:
            cmd = ["strace", "-f", "-ttt", "-T", "-y", "-o", trace]
            if args.light:
                cmd += ["--seccomp-bpf", "-e", "trace=" + ",".join(LIGHT)]
            for p in pids:
                cmd += ["-p", str(p)]
        tracer = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
        time.sleep(1.5)  # strace attaches to every thread; perf sets up its buffers
        for _ in range(args.n):
            for c in cycles:
                getattr(cyc, c)()
        time.sleep(0.5)
        tracer.send_signal(signal.SIGINT)
        tracer.wait()
        tracer = None
        ch.close()
        calls, life = parse_perf(trace, pids, fds) if args.perf else parse(trace)
        per = attribute(calls, cyc.windows)
        how = "perf tracepoints (system-wide, the runtime's process tree)" if args.perf \
            else "strace" + (" --seccomp-bpf (processes, syncs, mounts, removals)"
                             if args.light else "")
        print(f"{args.runtime}: {args.n} cycles of {'+'.join(cycles)} under {how} "
              f"(traced: {len(pids)} processes at the start, and their children); per CRI "
              f"call: client "
              f"median ms; fsync/fdatasync/syncfs count/ms; SQLite (wincri) or bolt "
              f"(containerd) write transactions; successful unlink/rmdir count/ms; renames")
        print("\n".join(summarise(per, life, cyc.ms, args.runtime)))
        if args.keep_trace:
            shutil.copy(trace, args.keep_trace)
    finally:
        if tracer:
            tracer.terminate()
            tracer.wait()
        if rt:
            try:
                import grpc as g
                ch2 = g.insecure_channel(rt.endpoint)
                st = PB_GRPC.RuntimeServiceStub(ch2)
                for s in st.ListPodSandbox(PB.ListPodSandboxRequest(), timeout=60).items:
                    st.StopPodSandbox(PB.StopPodSandboxRequest(pod_sandbox_id=s.id), timeout=60)
                    st.RemovePodSandbox(PB.RemovePodSandboxRequest(pod_sandbox_id=s.id),
                                        timeout=60)
                ch2.close()
            except Exception as e:  # noqa: BLE001 - stop() cleans up what is left
                print(f"cleanup through CRI failed: {e}")
            rt.stop()
        reg.stop()
        subprocess.run(["iptables", "-D", *rule], capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)
        for ctl in os.listdir("/sys/fs/cgroup"):
            try:
                os.rmdir(os.path.join("/sys/fs/cgroup", ctl, "wcbsys"))
            except OSError:
                pass
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pb_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
