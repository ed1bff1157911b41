"""Fixtures of the simulated-Windows-host tests: one wine prefix and winsim host per session,
one local registry holding a Windows image, one shared wincrid.exe (tests that restart or
misconfigure wincrid start their own), and helpers to run pods and containers."""
import shutil
import time

import pytest

# PB and PB_GRPC are re-exported: tests/windows/test_wine_daemon.py imports them from the
# module named conftest, which may be this one when both directories are collected.
from winsim import PB, PB_GRPC, Pods, Reg, SimHost, WinCrid, windows_image  # noqa: F401


def pytest_configure(config):
    config.addinivalue_line("markers", "own_daemon: the test starts its own wincrid.exe")


@pytest.fixture(scope="session")
def host():
    if not shutil.which("wine"):
        pytest.fail("wine is not installed (Debian package wine64)")
    h = SimHost()
    yield h
    h.destroy()


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
