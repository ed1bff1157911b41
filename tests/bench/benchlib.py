"""Setup shared by the benchmarks: gRPC stubs from wincri's proto, a busybox test image,
a bridge CNI config on the benchmark's own subnet (no masquerade), wincrid on a private root
(Wincrid: start, kill -9, restart, its stdio keeper found by lock file or /proc), and the
runc/containerd versions for the tables."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
import registry as R  # noqa: E402


def stubs():
    """Generates the Python stubs from cri/api.proto; returns (dir, api_pb2, api_pb2_grpc)."""
    out = tempfile.mkdtemp(prefix="wcbench-pb-")
    subprocess.run(["protoc", f"--python_out={out}", f"--grpc_out={out}",
                    "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin",
                    f"-I{REPO}/cri", f"{REPO}/cri/api.proto"], check=True)
    sys.path.insert(0, out)
    import api_pb2
    import api_pb2_grpc
    return out, api_pb2, api_pb2_grpc


def busybox_image(applets, extra=None, cmd=None):
    """A one-layer image of Debian's busybox-static with the given applets linked; extra:
    more files {path: (bytes, mode)}."""
    t = R.TarBuilder().dir("bin").dir("etc").dir("tmp", 0o1777).dir("root", 0o700)
    with open("/bin/busybox", "rb") as f:
        t.file("bin/busybox", f.read(), 0o755)
    for a in applets:
        t.symlink("bin/" + a, "busybox")
    t.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
    t.file("etc/group", "root:x:0:\n")
    for path, (data, mode) in (extra or {}).items():
        t.file(path, data, mode)
    return R.Image([R.Layer(t.bytes())], cmd=cmd or ["/bin/sleep", "3600"])


def write_bridge_cni(cni_dir, ipam_dir, subnet, bridge, name, portmap=False):
    """A bridge + host-local conflist; with portmap, hostPorts too (snat off)."""
    bridge_plugin = {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": False,
                     "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                              "dataDir": ipam_dir}}
    plugins = [bridge_plugin]
    if portmap:
        bridge_plugin["hairpinMode"] = True
        plugins.append({"type": "portmap", "capabilities": {"portMappings": True},
                        "snat": False})
    with open(os.path.join(cni_dir, f"10-{name}.conflist"), "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": name, "plugins": plugins}, f, indent=1)


# ---- wincrid and its stdio keeper ----------------------------------------------------------

KEEPER_ARG = "--stdio-keeper"


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def keeper_pid(state_dir):
    """The stdio keeper serving state_dir, or None: the pid in <state>/keeper/keeper.lock when
    that process is a keeper of this state dir, else a /proc scan for `--stdio-keeper <state>`
    (the keeper is wincrid's child until wincrid dies, then re-parented, so a tree walk from
    the current wincrid does not always find it)."""
    def is_keeper(pid):
        argv = [a.decode(errors="replace")
                for a in _read(f"/proc/{pid}/cmdline").split(b"\0") if a]
        return KEEPER_ARG in argv and argv[argv.index(KEEPER_ARG) + 1:][:1] == [state_dir]
    try:
        pid = int(_read(os.path.join(state_dir, "keeper", "keeper.lock")).split()[0])
        if is_keeper(pid):
            return pid
    except (ValueError, IndexError):
        pass
    for p in os.listdir("/proc"):
        if p.isdigit() and is_keeper(int(p)):
            return int(p)
    return None


def cri_version_ok(endpoint, timeout=1):
    """Whether a CRI RuntimeService answers Version on endpoint (an empty request is 0 bytes)."""
    import grpc
    ch = grpc.insecure_channel(endpoint)
    try:
        ch.unary_unary("/runtime.v1.RuntimeService/Version")(b"", timeout=timeout)
        return True
    except grpc.RpcError:
        return False
    finally:
        ch.close()


class Wincrid:
    """wincrid on a private temp root, state dir and socket, with the benchmark's CNI dir.
    pids() is wincrid and its stdio keeper; kill9() and start() restart it on the same root;
    stop() removes what is left (containers through the private runc root, the keeper, mounts,
    the temp dir)."""

    def __init__(self, binary, cni_dir, log_level="info", extra=None):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="wcbench-wc-")
        self.state = os.path.join(self.dir, "state")
        self.endpoint = "unix://" + os.path.join(self.state, "wincri.sock")
        cfg = {"root": os.path.join(self.dir, "root"), "state": self.state,
               "listen": self.endpoint, "log_level": log_level, "shutdown_grace_seconds": 5,
               "cni_conf_dir": cni_dir, "cni_bin_dirs": ["/usr/lib/cni"]}
        cfg.update(extra or {})
        self.config = os.path.join(self.dir, "config.json")
        with open(self.config, "w") as f:
            json.dump(cfg, f)
        self.runc_root = os.path.join(self.state, "runc")
        self.log_path = os.path.join(self.dir, "wincrid.log")
        self.log = open(self.log_path, "ab")
        self.proc = None
        self.start()
        self.wait_ready()

    def start(self):
        """Starts wincrid (again) on this root; returns at once."""
        self.proc = subprocess.Popen([self.binary, "--config", self.config], stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def wait_ready(self, timeout=30):
        import time
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"wincrid exited {self.proc.returncode}:\n"
                                   f"{_read(self.log_path)[-3000:].decode(errors='replace')}")
            if cri_version_ok(self.endpoint):
                return
            time.sleep(0.05)
        raise RuntimeError("wincrid not ready after 30s")

    def kill9(self):
        """SIGKILL to wincrid only (the keeper and the containers go on); reaps it."""
        self.proc.kill()
        self.proc.wait()

    def keeper_pid(self):
        return keeper_pid(self.state)

    def pids(self):
        """wincrid (when alive) and the stdio keeper."""
        out = [self.proc.pid] if self.proc and self.proc.poll() is None else []
        k = self.keeper_pid()
        if k and k not in out:
            out.append(k)
        return out

    def node_level(self):
        """How many of the runtime's processes exist once per node, not per pod."""
        return 2  # wincrid and the keeper

    def log_mark(self):
        self.log.flush()
        return os.path.getsize(self.log_path)

    def log_text(self, start=0, end=None):
        with open(self.log_path, "rb") as f:
            f.seek(start)
            data = f.read() if end is None else f.read(end - start)
        return data.decode(errors="replace")

    def stop(self):
        keeper = self.keeper_pid()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if os.path.isdir(self.runc_root):  # only if pods were left behind
            for cid in os.listdir(self.runc_root):
                subprocess.run(["runc", "--root", self.runc_root, "delete", "-f", cid],
                               capture_output=True, timeout=30)
        if keeper:  # it would exit by itself 30 s after holding nothing; ours, so end it now
            try:
                os.kill(keeper, signal.SIGTERM)
            except ProcessLookupError:
                pass
        import containerd as C
        C.unmount_under(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)


def runc_version():
    out = subprocess.run(["runc", "--version"], capture_output=True, text=True).stdout
    return out.split()[2] if out else "?"


def containerd_version():
    out = subprocess.run(["containerd", "--version"], capture_output=True, text=True).stdout
    return out.split()[2] if out else "?"
