"""wincrid.exe, cross-built and linked against the mingw dependency cache (`make windows`),
run under wine: the Windows daemon serves CRI through its own front (tcp:// here; wine's
named pipes are not reachable from Linux clients) to the same Python client the Linux tests
use. No HCS exists under wine, so the runtime reports itself not ready, naming why."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import grpc
import pytest

import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from conftest import PB, PB_GRPC  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXE = os.path.join(REPO, "build", "winlink", "wincrid.exe")
PREFIX = os.environ.get("WINEPREFIX", "/var/cache/wincri/wineprefix")


def wine_env():
    env = dict(os.environ, WINEDEBUG="-all", WINEPREFIX=PREFIX)
    return env


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def exe():
    if not os.path.exists(EXE):
        pytest.fail(f"{EXE} is missing: `make windows` builds it (tests/run-all.sh runs it)")
    return EXE


@pytest.fixture(scope="module")
def daemon(exe):
    port = free_port()
    name = "wct" + os.urandom(4).hex()
    drive = os.path.join(PREFIX, "drive_c")
    cfg = {"root": f"C:\\{name}\\root", "state": f"C:\\{name}\\state",
           "listen": f"tcp://127.0.0.1:{port}", "log_level": "debug"}
    with open(os.path.join(drive, f"{name}.json"), "w") as f:
        json.dump(cfg, f)
    log = tempfile.NamedTemporaryFile(prefix="wincrid-wine-", suffix=".log", delete=False)
    proc = subprocess.Popen(["wine", exe, "--console", "--config", f"C:\\{name}.json"],
                            stdout=log, stderr=subprocess.STDOUT, env=wine_env())
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    rt = PB_GRPC.RuntimeServiceStub(channel)
    deadline = time.time() + 120  # a cold wine prefix takes a while
    while True:
        try:
            rt.Version(PB.VersionRequest(), timeout=2)
            break
        except grpc.RpcError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("wincrid.exe did not serve under wine:\n" + open(log.name).read())
            time.sleep(0.5)

    class D:
        pass

    d = D()
    d.rt, d.image, d.drive, d.name, d.log = rt, PB_GRPC.ImageServiceStub(channel), drive, name, log.name
    yield d
    channel.close()
    proc.kill()
    proc.wait(30)
    shutil.rmtree(os.path.join(drive, name), ignore_errors=True)
    os.unlink(os.path.join(drive, f"{name}.json"))


def test_exe_is_pe32plus_and_reports_its_version(exe):
    out = subprocess.run(["file", exe], capture_output=True, text=True).stdout
    assert "PE32+ executable" in out and "x86-64" in out
    v = subprocess.run(["wine", exe, "--version"], capture_output=True, text=True,
                       env=wine_env(), timeout=120)
    assert v.stdout.startswith("wincrid ") and "CRI runtime.v1" in v.stdout


def test_windows_defaults(exe):
    p = subprocess.run(["wine", exe, "--print-default-config"], capture_output=True, text=True,
                       env=wine_env(), timeout=120)
    cfg = json.loads(p.stdout)
    assert cfg["listen"] == "npipe:////./pipe/wincri"
    assert set(cfg["runtime_handlers"]) == {"runhcs-wcow-process", "runhcs-wcow-hypervisor"}


def test_serves_cri_and_reports_missing_hcs(daemon):
    v = daemon.rt.Version(PB.VersionRequest())
    assert (v.runtime_name, v.runtime_api_version) == ("wincri", "v1")
    st = daemon.rt.Status(PB.StatusRequest())
    conds = {c.type: c for c in st.status.conditions}
    assert conds["RuntimeReady"].status is False
    assert "computecore.dll" in conds["RuntimeReady"].message
    assert sorted(h.name for h in st.runtime_handlers) == ["runhcs-wcow-hypervisor",
                                                          "runhcs-wcow-process"]
    cfg = PB.PodSandboxConfig(metadata=PB.PodSandboxMetadata(name="p", namespace="n", uid="u"))
    with pytest.raises(grpc.RpcError) as e:
        daemon.rt.RunPodSandbox(PB.RunPodSandboxRequest(config=cfg), timeout=30)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "runhcs-wcow-process" in e.value.details()
    assert list(daemon.image.ListImages(PB.ListImagesRequest()).images) == []


def test_internal_port_refuses_other_peers(daemon):
    path = os.path.join(daemon.drive, daemon.name, "state", "grpc-internal-endpoint")
    with open(path) as f:
        target = f.read().strip()
    rt = PB_GRPC.RuntimeServiceStub(grpc.insecure_channel(target))
    with pytest.raises(grpc.RpcError) as e:
        rt.Version(PB.VersionRequest(), timeout=10)
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
