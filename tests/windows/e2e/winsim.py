"""The simulated Windows host for the end-to-end tests of wincrid.exe under wine.

SimHost   a private wine prefix (made per test session under /tmp) whose registry says
          Windows Server 2022 build 20348 (CurrentVersion 10.0, CurrentBuildNumber 20348,
          ProductType ServerNT), with the winsim DLL doubles (tests/windows/sim) in its
          system32, and the winsim host service (simhost.exe) running in it.
WinCrid   one wincrid.exe --console in that prefix, its TCP front on 127.0.0.1, a private
          root and state, built-in NAT networking on a 127.77.x.0/24 subnet so pod IPs are
          loopback addresses the tests (and port-forward) can reach.
Also: Windows-format image layers (Files/, Hives/, UtilityVM/) for the local registry, the
journal reader, and golden matching (placeholders like "<GUID>" in goldens)."""
import importlib.util
import io
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
SIM_DIR = os.path.join(REPO, "build", "winsim")
# WINSIM_WINCRID_EXE: another build to run the tests against (e.g. an older one, to see a
# new test fail where the fix is missing)
EXE = os.environ.get("WINSIM_WINCRID_EXE") or os.path.join(REPO, "build", "winlink",
                                                           "wincrid.exe")
GOLDEN = os.path.join(REPO, "tests", "windows", "golden-sim")

# The Linux tests' CRI client (stubs generated from cri/api.proto), loaded under its own
# module name so it does not collide with this directory's conftest.
_spec = importlib.util.spec_from_file_location(
    "e2e_conftest", os.path.join(REPO, "tests", "e2e", "conftest.py"))
_e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_e2e)
PB, PB_GRPC = _e2e.PB, _e2e.PB_GRPC
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
import registry as R  # noqa: E402

HOST_BUILD = 20348
HOST_UBR = 2582
IMAGE_OS_VERSION = f"10.0.{HOST_BUILD}.{HOST_UBR}"
MAX_MSG = 16 * 1024 * 1024


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


REGISTRY_FILE = r"""Windows Registry Editor Version 5.00

[HKEY_LOCAL_MACHINE\Software\Microsoft\Windows NT\CurrentVersion]
"CurrentVersion"="10.0"
"CurrentMajorVersionNumber"=dword:0000000a
"CurrentMinorVersionNumber"=dword:00000000
"CurrentBuildNumber"="20348"
"CurrentBuild"="20348"
"UBR"=dword:00000a16
"ProductName"="Windows Server 2022 Datacenter"
"EditionID"="ServerDatacenter"
"InstallationType"="Server"
"CSDVersion"=-

[HKEY_LOCAL_MACHINE\System\CurrentControlSet\Control\ProductOptions]
"ProductType"="ServerNT"
"""


class SimHost:
    """A wine prefix playing a Windows Server 2022 node with the winsim services."""

    @classmethod
    def sibling(cls, other, fail=None):
        """A second winsim host service in the same prefix (its own port and state), e.g. one
        started with WINSIM_FAIL in its environment."""
        h = cls.__new__(cls)
        h.dir, h.prefix = other.dir, other.prefix
        h.session = "s" + uuid.uuid4().hex[:8]
        h.env = dict(other.env)
        h.root_win = "C:\\winsim\\" + h.session
        h.root = h.path(h.root_win)
        h.port = free_port()
        h.env["WINSIM_PORT"] = str(h.port)
        h.proc = None
        h.start(fail)
        return h

    def __init__(self, fail=None):
        for f in ("simhost.exe", "computecore.dll", "vmcompute.dll", "ctr.exe"):
            if not os.path.exists(os.path.join(SIM_DIR, f)):
                raise RuntimeError(f"{SIM_DIR}/{f} is missing: `make windows-e2e` builds it")
        self.dir = tempfile.mkdtemp(prefix="winsim-")
        self.prefix = os.path.join(self.dir, "prefix")
        self.session = "s" + uuid.uuid4().hex[:8]
        self.env = dict(os.environ, WINEPREFIX=self.prefix, WINEDEBUG="-all",
                        WINEDLLOVERRIDES="mscoree,mshtml=")
        subprocess.run(["wineboot", "-i"], env=self.env, check=True, capture_output=True,
                       timeout=300)
        reg = os.path.join(self.dir, "server2022.reg")
        with open(reg, "w", encoding="utf-16") as f:
            f.write(REGISTRY_FILE.replace("\n", "\r\n"))
        subprocess.run(["wine", "reg", "import", self.win(reg)], env=self.env, check=True,
                       capture_output=True, timeout=120)
        system32 = os.path.join(self.prefix, "drive_c", "windows", "system32")
        for dll in ("computecore.dll", "computestorage.dll", "computenetwork.dll",
                    "vmcompute.dll"):
            shutil.copy(os.path.join(SIM_DIR, dll), os.path.join(system32, dll))
        self.root_win = "C:\\winsim\\" + self.session
        self.root = self.path(self.root_win)
        self.port = free_port()
        self.env["WINSIM_PORT"] = str(self.port)
        self.proc = None
        self.start(fail)

    def start(self, fail=None):
        env = dict(self.env)
        if fail:
            env["WINSIM_FAIL"] = fail
        self.log = open(os.path.join(self.dir, "simhost.out"), "ab")
        self.proc = subprocess.Popen(["wine", os.path.join(SIM_DIR, "simhost.exe"), "--port",
                                      str(self.port), "--root", self.root_win],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 120
        while True:
            try:
                self.control("_stats")
                return
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("simhost.exe did not start: " + self.host_log())
                time.sleep(0.2)

    # ---- paths ----

    def path(self, win):
        """The Linux path of a C:\\ path in the prefix."""
        assert win[1:3] == ":\\", win
        return os.path.join(self.prefix, "drive_c", *win[3:].split("\\"))

    @staticmethod
    def win(linux_path):
        return "Z:" + os.path.abspath(linux_path).replace("/", "\\")

    # ---- the host's control channel ----

    def control(self, op, **kw):
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            s.sendall((json.dumps(dict(op=op, pid=0, **kw)) + "\n").encode())
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        return json.loads(buf)

    def stats(self):
        return self.control("_stats")

    def fault(self, spec):
        """Arms WINSIM_FAIL-style faults ("Call=0xHRESULT[*count];...") on the running host."""
        assert self.control("_fault", spec=spec)["hr"] == 0

    def journal(self, since=0):
        out = []
        try:
            with open(os.path.join(self.root, "journal.jsonl"), encoding="utf-8") as f:
                for line in f:
                    e = json.loads(line)
                    if e["seq"] > since:
                        out.append(e)
        except FileNotFoundError:
            pass
        return out

    def mark(self):
        j = self.journal()
        return j[-1]["seq"] if j else 0

    def host_log(self):
        try:
            with open(os.path.join(self.root, "host.log"), errors="replace") as f:
                return f.read()[-4000:]
        except FileNotFoundError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                self.control("_stop")
                self.proc.wait(30)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def destroy(self):
        self.stop()
        keep = os.environ.get("WINSIM_KEEP")  # a directory to keep the journal and logs in
        if keep:
            os.makedirs(keep, exist_ok=True)
            for name in ("journal.jsonl", "host.log"):
                if os.path.exists(os.path.join(self.root, name)):
                    shutil.copy(os.path.join(self.root, name),
                                os.path.join(keep, self.session + "-" + name))
            for name in os.listdir(self.dir):
                if name.endswith(".log") or name.endswith(".jsonl") or name.endswith(".out"):
                    shutil.copy(os.path.join(self.dir, name), os.path.join(keep, name))
        subprocess.run(["wineserver", "-k"], env=self.env, capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


class WinCrid:
    """wincrid.exe --console on the simulated host."""

    def __init__(self, host, registry_host=None, extra=None, subnet_index=1):
        self.host = host
        self.name = "wc" + uuid.uuid4().hex[:8]
        base = "C:\\" + self.name
        self.port = free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self.subnet = f"127.77.{subnet_index}"
        self.config = {
            "root": base + "\\root", "state": base + "\\state",
            "listen": f"tcp://127.0.0.1:{self.port}", "log_level": "debug",
            "shutdown_grace_seconds": 5,
            "cni_conf_dir": base + "\\cni", "cni_bin_dirs": [base + "\\cnibin"],
            "windows_nat": {"enabled": True, "network": "wincri-nat-" + self.name,
                            "subnet": self.subnet + ".0/24", "gateway": self.subnet + ".1"},
        }
        if registry_host:
            self.config["registries"] = {registry_host: {"plain_http": True}}
        for k, v in (extra or {}).items():
            self.config[k] = v
        self.base = base
        self.config_win = base + ".json"
        with open(host.path(self.config_win), "w") as f:
            json.dump(self.config, f, indent=2)
        self.log_path = os.path.join(host.dir, self.name + ".log")
        self.proc = None
        self.channels = []

    def start(self, timeout=120, env_extra=None):
        env = dict(self.host.env, WINSIM_WINE_BACKUPWRITE="1", WINSIM_WINE_MOUNTPOINTS="1",
                   WINSIM_WINE_LOGON="1", WINSIM_WINE_JOBCPU="1", WINSIM_WINE_SYMLINKS="1",
                   WINSIM_GAPS_LOG=os.path.join(self.host.dir, "gaps.jsonl"))
        env.update(env_extra or {})
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["wine", EXE, "--console", "--config", self.config_win],
                                     stdout=self.log_file, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + timeout
        while True:
            try:
                self.runtime().Version(PB.VersionRequest(), timeout=2)
                return self
            except grpc.RpcError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("wincrid.exe did not serve:\n" + self.log())
                time.sleep(0.3)

    def channel(self):
        ch = grpc.insecure_channel(self.endpoint, options=[
            ("grpc.max_send_message_length", MAX_MSG + 1024 * 1024),
            ("grpc.max_receive_message_length", MAX_MSG + 1024 * 1024)])
        self.channels.append(ch)
        return ch

    def runtime(self):
        return PB_GRPC.RuntimeServiceStub(self.channel())

    def image(self):
        return PB_GRPC.ImageServiceStub(self.channel())

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def pid(self):
        """wincrid.exe's Windows process id, as the winsim host's clients list shows it."""
        for c in self.host.stats()["clients"]:
            if c["pid"]:
                return c["pid"]
        return None

    def keeper_pids(self):
        """Unix pids of this wincrid's stdio keeper (wine shows the Windows command line)."""
        out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
        return [int(line.split(None, 1)[0]) for line in out.splitlines()
                if "--stdio-keeper" in line and self.name in line]

    def kill_keeper(self):
        """Ends the stdio keeper at once (a crash)."""
        pids = self.keeper_pids()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        return pids

    def kill(self):
        """Ends wincrid.exe at once (a crash, as far as the node can tell)."""
        for ch in self.channels:
            ch.close()
        self.channels = []
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)
        self.log_file.close()

    def path(self, win):
        return self.host.path(win)


# ---- the local registry, pods and containers ----

class Reg:
    def __init__(self):
        self.storage = tempfile.mkdtemp(prefix="winsim-reg-")
        self.reg = R.Registry(self.storage)
        self.pusher = R.Pusher(self.reg.url)
        self.host = self.reg.host

    def push(self, repo, tag, img):
        self.pusher.image(repo, tag, img)
        return f"{self.host}/{repo}:{tag}"

    def stop(self):
        self.reg.stop()
        shutil.rmtree(self.storage, ignore_errors=True)


class Pods:
    """Makes pods and containers on a daemon and removes what is left after the test."""

    def __init__(self, d, image):
        self.d, self.rt, self.image = d, d.runtime(), image
        self.sandboxes = []

    def sandbox_config(self, name=None, handler="", **kw):
        name = name or "p" + uuid.uuid4().hex[:6]
        logdir = self.d.base + "\\logs\\" + name
        os.makedirs(self.d.path(logdir), exist_ok=True)
        cfg = PB.PodSandboxConfig(
            metadata=PB.PodSandboxMetadata(name=name, namespace="winsim", uid=uuid.uuid4().hex,
                                           attempt=0),
            hostname=name, log_directory=logdir, **kw)
        return cfg

    def run_pod(self, handler="", **kw):
        cfg = self.sandbox_config(**kw)
        sid = self.rt.RunPodSandbox(PB.RunPodSandboxRequest(config=cfg, runtime_handler=handler),
                                    timeout=120).pod_sandbox_id
        self.sandboxes.append(sid)
        return sid, cfg

    def container_config(self, name="c", command=None, args=None, tty=False, stdin=False,
                         **kw):
        return PB.ContainerConfig(
            metadata=PB.ContainerMetadata(name=name, attempt=0),
            image=PB.ImageSpec(image=self.image), command=command or [], args=args or [],
            log_path=name + ".log", tty=tty, stdin=stdin, **kw)

    def create(self, sid, scfg, **kw):
        cfg = self.container_config(**kw)
        return self.rt.CreateContainer(PB.CreateContainerRequest(
            pod_sandbox_id=sid, config=cfg, sandbox_config=scfg), timeout=120).container_id

    def start(self, cid):
        self.rt.StartContainer(PB.StartContainerRequest(container_id=cid), timeout=120)

    def run(self, sid, scfg, **kw):
        cid = self.create(sid, scfg, **kw)
        self.start(cid)
        return cid

    def status(self, cid):
        return self.rt.ContainerStatus(PB.ContainerStatusRequest(container_id=cid),
                                       timeout=60).status

    def wait_state(self, cid, state, timeout=60):
        deadline = time.time() + timeout
        while True:
            st = self.status(cid)
            if st.state == state:
                return st
            if time.time() > deadline:
                raise AssertionError(f"container {cid} is {st.state}, not {state}")
            time.sleep(0.2)

    def log_file(self, scfg, cid_name):
        return self.d.path(scfg.log_directory + "\\" + cid_name + ".log")

    def wait_log(self, scfg, name, needle, timeout=30):
        path = self.log_file(scfg, name)
        deadline = time.time() + timeout
        text = ""
        while time.time() < deadline:
            try:
                with open(path, errors="replace") as f:
                    text = f.read()
            except FileNotFoundError:
                text = ""
            if needle in text:
                return text
            time.sleep(0.2)
        raise AssertionError(f"{needle!r} not in {path}:\n{text}")

    def cleanup(self):
        for sid in self.sandboxes:
            try:
                self.rt.StopPodSandbox(PB.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=120)
                self.rt.RemovePodSandbox(PB.RemovePodSandboxRequest(pod_sandbox_id=sid),
                                         timeout=120)
            except grpc.RpcError:
                pass


# ---- Windows image layers ----

FILE_ATTRIBUTE_DIRECTORY = 16
FILE_ATTRIBUTE_ARCHIVE = 32


class WinTar:
    """A Windows-format layer tar (hcsshim pkg/ociwclayer, go-winio backuptar): Files/,
    Hives/, UtilityVM/Files/, MSWINDOWS.fileattr PAX records, .wh. whiteouts."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)
        self.dirs = set()

    def _info(self, name, kind, attrs):
        ti = tarfile.TarInfo(name)
        ti.type = kind
        ti.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
        ti.mtime = 1700000000
        ti.pax_headers = {"MSWINDOWS.fileattr": str(attrs)}
        return ti

    def dir(self, name):
        parts = name.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.dirs:
                self.dirs.add(d)
                self.tar.addfile(self._info(d, tarfile.DIRTYPE, FILE_ATTRIBUTE_DIRECTORY))
        return self

    def file(self, name, data):
        if isinstance(data, str):
            data = data.encode()
        if "/" in name:
            self.dir(name.rsplit("/", 1)[0])
        ti = self._info(name, tarfile.REGTYPE, FILE_ATTRIBUTE_ARCHIVE)
        ti.size = len(data)
        self.tar.addfile(ti, io.BytesIO(data))
        return self

    def whiteout(self, name):
        d, base = name.rsplit("/", 1)
        self.dir(d)
        ti = tarfile.TarInfo(d + "/.wh." + base)
        ti.mtime = 1700000000
        self.tar.addfile(ti, io.BytesIO(b""))
        return self

    def bytes(self):
        self.tar.close()
        return self.buf.getvalue()


HIVES = ("DefaultUser_Delta", "Sam_Delta", "Security_Delta", "Software_Delta", "System_Delta")


def base_layer(ctr_exe, base_marker=""):
    t = WinTar().dir("Files").dir("Files/Windows/System32").dir("Hives")
    t.file("Files/app/ctr.exe", ctr_exe)
    t.file("Files/app/removed.txt", "this file is removed by the top layer\n")
    t.file("Files/Windows/System32/license.rtf", "winsim base layer " + base_marker + "\n")
    for h in HIVES:
        t.file("Hives/" + h, "regf" + h)
    # The utility VM's boot files, for Hyper-V isolation (hcsshim uvm/create_wcow.go boots
    # \EFI\Microsoft\Boot\bootmgfw.efi from the base layer's UtilityVM\Files).
    t.dir("UtilityVM/Files/EFI/Microsoft/Boot")
    t.file("UtilityVM/Files/EFI/Microsoft/Boot/bootmgfw.efi", "winsim uvm boot\n")
    return R.Layer(t.bytes(), R.OCI_LAYER_GZIP)


def top_layer(marker):
    t = WinTar().dir("Files/app")
    t.file("Files/app/config.txt", "marker=" + marker + "\n")
    t.whiteout("Files/app/removed.txt")
    return R.Layer(t.bytes(), R.OCI_LAYER_GZIP)


def windows_image(marker=None, cmd=None, os_version=None, base_marker=""):
    with open(os.path.join(SIM_DIR, "ctr.exe"), "rb") as f:
        exe = f.read()
    # A Windows image config: what a Dockerfile's CMD/ENV/WORKDIR/USER give on
    # mcr.microsoft.com images (ContainerUser is the non-admin account they ship).
    config = {"Cmd": cmd or ["C:\\app\\ctr.exe", "run"],
              "Env": ["PATH=C:\\Windows\\system32;C:\\Windows;C:\\app", "APP_MODE=winsim"],
              "WorkingDir": "C:\\app", "User": "ContainerUser"}
    return R.Image([base_layer(exe, base_marker), top_layer(marker or uuid.uuid4().hex[:8])],
                   os_name="windows", os_version=os_version or IMAGE_OS_VERSION,
                   extra_config={"config": config})


# ---- goldens ----

PLACEHOLDER = re.compile(r"^<([A-Z_]+)(?::(.*))?>$")
GUID_RE = re.compile(r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                     r"[0-9a-fA-F]{12}\}?$")


def load_golden(name):
    with open(os.path.join(GOLDEN, name), encoding="utf-8") as f:
        doc = json.load(f)
    doc.pop("_source", None)  # where the golden comes from (hcsshim file and function)
    return doc


def norm(v):
    """GUIDs compare case-insensitively and without braces, as HCS and HCN treat them."""
    if isinstance(v, str) and GUID_RE.match(v):
        return v.strip("{}").lower()
    return v


def match(golden, actual, path="$", binds=None):
    """Compares a journalled document with a golden. Placeholders in golden strings:
    <ANY> any value, <GUID> a GUID, <VOLUME> a \\\\?\\Volume{GUID}\\ path, <PATH> any
    Windows path, <WINPATH> one without '/', <ENDS:suffix> a string ending with suffix,
    <INT> any integer,
    <BIND:name> equal wherever else name is bound. Returns a list of differences."""
    binds = {} if binds is None else binds
    diffs = []
    if isinstance(golden, str):
        m = PLACEHOLDER.match(golden)
        if m:
            kind, arg = m.group(1), m.group(2)
            ok = {
                "ANY": lambda a: True,
                "GUID": lambda a: isinstance(a, str) and bool(GUID_RE.match(a)),
                "VOLUME": lambda a: isinstance(a, str) and bool(re.match(
                    r"^\\\\\?\\Volume\{[0-9a-fA-F-]{36}\}\\$", a)),
                "PATH": lambda a: isinstance(a, str) and bool(re.match(r"^[A-Za-z]:\\", a)),
                "WINPATH": lambda a: isinstance(a, str) and bool(re.match(r"^[A-Za-z]:\\", a))
                and "/" not in a,
                "ENDS": lambda a: isinstance(a, str) and a.endswith(arg or ""),
                "INT": lambda a: isinstance(a, int),
            }.get(kind)
            if kind == "BIND":
                if arg in binds and norm(binds[arg]) != norm(actual):
                    diffs.append(f"{path}: {actual!r} != bound {arg}={binds[arg]!r}")
                binds.setdefault(arg, actual)
            elif ok is None or not ok(actual):
                diffs.append(f"{path}: {actual!r} does not match {golden}")
            return diffs
    if isinstance(golden, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {actual!r}"]
        for k in golden:
            if k not in actual:
                diffs.append(f"{path}.{k}: missing")
            else:
                diffs += match(golden[k], actual[k], f"{path}.{k}", binds)
        for k in actual:
            if k not in golden:
                diffs.append(f"{path}.{k}: unexpected ({actual[k]!r})")
        return diffs
    if isinstance(golden, list):
        if not isinstance(actual, list) or len(actual) != len(golden):
            return [f"{path}: expected {len(golden)} items, got {actual!r}"]
        for i, (g, a) in enumerate(zip(golden, actual)):
            diffs += match(g, a, f"{path}[{i}]", binds)
        return diffs
    if golden != actual:
        diffs.append(f"{path}: {actual!r} != {golden!r}")
    return diffs


def assert_golden(name, actual, binds=None):
    diffs = match(load_golden(name), actual, binds=binds)
    assert not diffs, f"{name}:\n  " + "\n  ".join(diffs) + "\nactual: " + json.dumps(actual)


def chain_hex(img):
    """The layer folders' names: chain IDs (OCI image spec) from the diff IDs."""
    out, chain = [], None
    for l in img.layers:
        chain = l.diff_id if chain is None else \
            "sha256:" + hashlib.sha256(f"{chain} {l.diff_id}".encode()).hexdigest()
        out.append(chain.split(":", 1)[1])
    return out


def calls(entries, name):
    """The journal entries of one API call, in order."""
    return [e for e in entries if e["call"] == name]


def only(entries, name):
    got = calls(entries, name)
    assert len(got) == 1, f"expected one {name}, journal has {len(got)}: " + json.dumps(
        [(e["call"], e["id"]) for e in entries])
    return got[0]
