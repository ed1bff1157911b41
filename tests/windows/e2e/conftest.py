"""Fixtures of the simulated-Windows-host tests: one wine prefix and winsim host per session,
one local registry holding a Windows image, one shared wincrid.exe (tests that restart or
misconfigure wincrid start their own), and helpers to run pods and containers."""
import os
import shutil
import tempfile
import time
import uuid

import grpc
import pytest

from winsim import PB, R, SimHost, WinCrid, windows_image


def pytest_configure(config):
    config.addinivalue_line("markers", "own_daemon: the test starts its own wincrid.exe")


@pytest.fixture(scope="session")
def host():
    if not shutil.which("wine"):
        pytest.fail("wine is not installed (Debian package wine64)")
    h = SimHost()
    yield h
    h.destroy()


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


@pytest.fixture(scope="session")
def registry():
    r = Reg()
    yield r
    r.stop()


@pytest.fixture(scope="session")
def image_ref(registry):
    return registry.push("winsim/app", "v1", windows_image("v1"))


@pytest.fixture(scope="session")
def daemon(host, registry):
    d = WinCrid(host, registry.host, subnet_index=1).start()
    yield d
    d.kill()


@pytest.fixture(scope="session")
def pulled(daemon, image_ref):
    """The test image, pulled once and imported by the shared daemon."""
    daemon.image().PullImage(PB.PullImageRequest(image=PB.ImageSpec(image=image_ref)),
                             timeout=300)
    return image_ref


@pytest.fixture
def rt(daemon):
    return daemon.runtime()


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


@pytest.fixture
def pods(daemon, pulled, quiet):
    """Pods on the shared daemon; the leak check (quiet) runs after they are removed."""
    p = Pods(daemon, pulled)
    yield p
    p.cleanup()


@pytest.fixture
def quiet(host, daemon, pulled):
    """Leak check around a test: after it, no compute system, process, mounted volume or
    HCS handle it made is left, and wincrid's OS handle and thread counts are back."""
    def snapshot():
        st = host.stats()
        me = [c for c in st["clients"] if c["pid"]]
        return st, me[0] if me else {}

    # let the pool of workers and the gRPC threads settle before measuring
    time.sleep(1)
    before, mine = snapshot()
    yield before
    deadline = time.time() + 30
    while True:
        after, mine_after = snapshot()
        problems = []
        for k in ("systems", "live_processes", "mounted_volumes", "endpoints", "namespaces"):
            if after[k] > before[k]:
                problems.append(f"{k}: {before[k]} -> {after[k]}")
        for k in ("system_handles", "process_handles", "callbacks"):
            if mine_after.get(k, 0) > mine.get(k, 0):
                problems.append(f"wincrid {k}: {mine.get(k)} -> {mine_after.get(k)}")
        # std pipe ends HCS handed to wincrid that it still holds (wine cannot count all of
        # a process's handles: GetProcessHandleCount answers 0)
        if mine_after.get("pipes_open", 0) > mine.get("pipes_open", 0):
            problems.append(f"wincrid still holds {mine_after.get('pipes_open')} HCS pipe "
                            f"end(s), {mine.get('pipes_open')} before")
        # a few threads of slack: gRPC and the worker pool grow on demand
        if mine_after.get("threads", 0) > mine.get("threads", 0) + 6:
            problems.append(f"wincrid threads: {mine.get('threads')} -> "
                            f"{mine_after.get('threads')}")
        if not problems:
            return
        if time.time() > deadline:
            raise AssertionError("left behind after the test: " + "; ".join(problems) +
                                 f"\nsystems now: {after['system_list']}")
        time.sleep(0.5)
