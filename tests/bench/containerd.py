"""A private containerd 1.6 (Debian's) for the benchmarks, side by side with wincrid.

    import containerd
    ctd = containerd.start(cni_dir, registry_port)   # CRI on, sandbox image pushed and set
    stub = api_pb2_grpc.RuntimeServiceStub(grpc.insecure_channel(ctd.endpoint))
    ...
    rss = containerd.rss_kb(ctd.pids())               # containerd + every shim of this root
    ctd.stop()                                          # kills shims and containers, unmounts,
                                                        # removes the temp root

start(cni_dir, registry_port) runs `containerd` on its own root, state dir and socket (all
under one temp dir), with the CRI plugin enabled and set up like wincrid in the benchmarks:
  * CNI: bin_dir /usr/lib/cni, conf_dir = cni_dir (the benchmark's own conflist);
  * sandbox_image = 127.0.0.1:PORT/bench/pause:v1, a static pause (tests/bench/pause.c) that
    start() builds with gcc and pushes to the registry on registry_port (once per process);
  * registry 127.0.0.1:PORT over plain HTTP (a mirror entry with an http:// endpoint);
  * runc through io.containerd.runc.v2 with cgroupfs (SystemdCgroup = false) and a private
    runc root, overlayfs snapshotter, restrict_oom_score_adj (root here lacks
    CAP_SYS_RESOURCE, see DESIGN.md).
It returns when the CRI RuntimeService answers Version (runtime.v1) on .endpoint.

start(cri=False) runs containerd without its CRI plugin (no CNI, no registry needed), for
`ctr` pulls (bench_pull.py): use .ctr("images", "pull", ...) or .address.

Process accounting helpers: pids() of a Containerd (the daemon and its
containerd-shim-runc-v2 processes, found by the -address they were given, since shims
re-parent away from containerd); tree(pids) adds their descendants in the host PID
namespace (container processes live in their own PID namespaces and are left out);
rss_kb(pids) sums VmRSS, pss_kb(pids) PSS. All of this works for wincrid too (pass its pid).
kill9() and start() + wait_ready() restart containerd on the same root (bench_restart.py).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

PAUSE_REPO, PAUSE_TAG = "bench/pause", "v1"
SHIM = "containerd-shim-runc-v2"
_pushed = set()


# ---- process accounting --------------------------------------------------------------------

def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def cmdline(pid):
    return [a.decode(errors="replace") for a in _read(f"/proc/{pid}/cmdline").split(b"\0") if a]


def ppid(pid):
    stat = _read(f"/proc/{pid}/stat").decode(errors="replace")
    try:
        return int(stat[stat.rindex(")") + 2:].split()[1])
    except (ValueError, IndexError):
        return 0


def all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _pidns(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def tree(roots):
    """roots plus all their descendants that share our (the host) PID namespace (so not the
    containers' own processes)."""
    host = _pidns(os.getpid())  # our own: /proc/1/ns may be unreadable
    children = {}
    for p in all_pids():
        children.setdefault(ppid(p), []).append(p)
    out, todo = [], list(roots)
    while todo:
        p = todo.pop()
        if p in out or _pidns(p) != host:
            continue
        out.append(p)
        todo.extend(children.get(p, []))
    return sorted(out)


def _sum_field(pids, path, field):
    total = 0
    for p in pids:
        for line in _read(f"/proc/{p}/{path}").decode(errors="replace").splitlines():
            if line.startswith(field):
                total += int(line.split()[1])
    return total


def rss_kb(pids):
    """Sum of VmRSS (shared pages, e.g. the shims' common text, count once per process)."""
    return _sum_field(pids, "status", "VmRSS:")


def pss_kb(pids):
    """Sum of PSS (shared pages split between the processes sharing them)."""
    return _sum_field(pids, "smaps_rollup", "Pss:")


# ---- the pause image -----------------------------------------------------------------------

def pause_binary():
    """The static pause binary built from tests/bench/pause.c, as bytes."""
    out = tempfile.mkdtemp(prefix="wcbench-pause-")
    try:
        binary = os.path.join(out, "pause")
        subprocess.run(["gcc", "-static", "-O2", "-o", binary, os.path.join(HERE, "pause.c")],
                       check=True)
        with open(binary, "rb") as f:
            return f.read()
    finally:
        shutil.rmtree(out, ignore_errors=True)


def pause_image():
    """An image whose only file is the static pause binary built from tests/bench/pause.c."""
    import registry as R
    layer = R.Layer(R.TarBuilder().file("pause", pause_binary(), 0o755).bytes())
    return R.Image([layer], cmd=["/pause"])


def push_pause(registry_port):
    """Builds and pushes the pause image once per registry; returns its reference."""
    import registry as R
    ref = f"127.0.0.1:{registry_port}/{PAUSE_REPO}:{PAUSE_TAG}"
    if registry_port not in _pushed:
        R.Pusher(f"http://127.0.0.1:{registry_port}").image(PAUSE_REPO, PAUSE_TAG, pause_image())
        _pushed.add(registry_port)
    return ref


# ---- containerd ----------------------------------------------------------------------------

def _config(d, cri, cni_dir, registry_port, sandbox_image):
    lines = ["version = 2", f'root = "{d}/root"', f'state = "{d}/state"',
             "[grpc]", f'  address = "{d}/containerd.sock"',
             "[ttrpc]", f'  address = "{d}/containerd.sock.ttrpc"',
             '[plugins."io.containerd.internal.v1.opt"]', f'  path = "{d}/opt"']
    if not cri:
        return "\n".join(['disabled_plugins = ["io.containerd.grpc.v1.cri"]'] + lines) + "\n"
    p = '[plugins."io.containerd.grpc.v1.cri"'
    reg = f"127.0.0.1:{registry_port}"
    lines += [
        p + "]", f'  sandbox_image = "{sandbox_image}"', "  restrict_oom_score_adj = true",
        "  disable_apparmor = true", '  stream_server_address = "127.0.0.1"',
        '  stream_server_port = "0"',
        p + ".containerd]", '  snapshotter = "overlayfs"', '  default_runtime_name = "runc"',
        p + ".containerd.runtimes.runc]", '  runtime_type = "io.containerd.runc.v2"',
        p + ".containerd.runtimes.runc.options]", "  SystemdCgroup = false",
        f'  Root = "{d}/runc"',
        p + ".cni]", '  bin_dir = "/usr/lib/cni"', f'  conf_dir = "{cni_dir}"',
        "  max_conf_num = 1",
        p + f'.registry.mirrors."{reg}"]', f'  endpoint = ["http://{reg}"]',
    ]
    return "\n".join(lines) + "\n"


def _wait(pred, timeout, what, proc, log_path):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited {proc.returncode}:\n{_read(log_path)[-4000:]}")
        if pred():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {timeout}s:\n{_read(log_path)[-4000:]}")


def _cri_version_ok(endpoint):
    import grpc
    ch = grpc.insecure_channel(endpoint)
    try:
        call = ch.unary_unary("/runtime.v1.RuntimeService/Version")
        call(b"", timeout=1)  # an empty VersionRequest is zero bytes
        return True
    except grpc.RpcError:
        return False
    finally:
        ch.close()


def unmount_under(directory):
    """Lazily unmounts every mount at or below directory, deepest first."""
    mounts = []
    for line in _read("/proc/self/mounts").decode(errors="replace").splitlines():
        mp = line.split()[1].replace("\\040", " ")
        if mp == directory or mp.startswith(directory + "/"):
            mounts.append(mp)
    for mp in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True)


class Containerd:
    """One containerd process on a private temp root; see the module docstring."""

    def __init__(self, cri=True, cni_dir=None, registry_port=None):
        self.dir = tempfile.mkdtemp(prefix="wcbench-ctd-")
        self.address = os.path.join(self.dir, "containerd.sock")
        self.endpoint = "unix://" + self.address
        self.runc_root = os.path.join(self.dir, "runc")
        self.sandbox_image = push_pause(registry_port) if cri else None
        cfg = os.path.join(self.dir, "config.toml")
        with open(cfg, "w") as f:
            f.write(_config(self.dir, cri, cni_dir, registry_port, self.sandbox_image))
        self.log_path = os.path.join(self.dir, "containerd.log")
        self.log = open(self.log_path, "ab")
        self.cri = cri
        self.config = cfg
        self.start()
        try:
            self.wait_ready()
        except Exception:
            self.stop()
            raise

    def start(self):
        """Starts containerd (again) on this root; returns at once."""
        self.proc = subprocess.Popen(["containerd", "--config", self.config], stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def wait_ready(self, timeout=60):
        if self.cri:
            _wait(lambda: _cri_version_ok(self.endpoint), timeout, "containerd CRI", self.proc,
                  self.log_path)
        else:
            _wait(lambda: self.ctr("version", check=False).returncode == 0, timeout,
                  "containerd", self.proc, self.log_path)

    def kill9(self):
        """SIGKILL to containerd only (its shims and the containers go on); reaps it."""
        self.proc.kill()
        self.proc.wait()

    def node_level(self):
        """How many of the runtime's processes exist once per node, not per pod."""
        return 1  # containerd; the rest are shims, one per pod

    def ctr(self, *args, check=True):
        return subprocess.run(["ctr", "--address", self.address, *args], check=check,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def shim_pids(self):
        out = []
        for p in all_pids():
            argv = cmdline(p)
            if argv and os.path.basename(argv[0]) == SHIM and "-address" in argv and \
                    argv[argv.index("-address") + 1:][:1] == [self.address]:
                out.append(p)
        return sorted(out)

    def pids(self):
        """containerd and its shims (the runtime's own processes, not the containers)."""
        alive = [self.proc.pid] if self.proc.poll() is None else []
        return alive + self.shim_pids()

    def stop(self):
        """Stops containerd, then kills whatever it left: containers (through the private runc
        root), shims, mounts under the temp dir; removes the dir."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        self._kill_containers()
        for p in self.shim_pids():
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        unmount_under(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _kill_containers(self):
        if not os.path.isdir(self.runc_root):
            return
        for ns in os.listdir(self.runc_root):
            root = os.path.join(self.runc_root, ns)
            for cid in os.listdir(root):
                subprocess.run(["runc", "--root", root, "delete", "-f", cid],
                               capture_output=True, timeout=30)



def start(cni_dir=None, registry_port=None, cri=True):
    """Starts a private containerd; with cri (the default) cni_dir and registry_port are
    required. Returns a Containerd with .endpoint (for gRPC), .address, .pids(), .stop()."""
    if cri and (cni_dir is None or registry_port is None):
        raise ValueError("containerd with CRI needs cni_dir and registry_port")
    return Containerd(cri, cni_dir, registry_port)
