"""Fixtures for end-to-end tests: a real wincrid per test (or per session), reached through
the project's own proto compiled at test time with protoc and Debian's grpc python plugin."""
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import grpc
import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WINCRID = os.environ.get("WINCRID", os.path.join(REPO, "build", "san", "wincrid"))
MAX_MSG = 16 * 1024 * 1024


def _generate_stubs():
    out = tempfile.mkdtemp(prefix="wincri-pb-")
    subprocess.run(
        ["protoc", f"--python_out={out}", f"--grpc_out={out}",
         "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin",
         f"-I{REPO}/cri", f"{REPO}/cri/api.proto"],
        check=True)
    sys.path.insert(0, out)
    return importlib.import_module("api_pb2"), importlib.import_module("api_pb2_grpc")


PB, PB_GRPC = _generate_stubs()


@pytest.fixture(scope="session")
def pb():
    return PB


class Daemon:
    """One wincrid process on a private root, state dir and socket."""

    def __init__(self, extra=None, args=None, umask=None):
        self.dir = tempfile.mkdtemp(prefix="wc", dir="/tmp")
        self.root = os.path.join(self.dir, "root")
        self.state = os.path.join(self.dir, "state")
        self.socket = os.path.join(self.state, "wincri.sock")
        self.endpoint = "unix://" + self.socket
        self.config = {
            "root": self.root,
            "state": self.state,
            "listen": self.endpoint,
            "log_level": "debug",
            "shutdown_grace_seconds": 5,
            "cni_conf_dir": os.path.join(self.dir, "cni"), "cni_bin_dirs": ["/usr/lib/cni"],
        }
        _deep_update(self.config, extra or {})
        if "listen" in (extra or {}):
            # gRPC python names TCP targets host:port, without a scheme
            self.endpoint = self.config["listen"].replace("tcp://", "", 1)
        self.config_path = os.path.join(self.dir, "config.json")
        with open(self.config_path, "w") as f:
            json.dump(self.config, f, indent=2)
        self.args = args or []
        self.umask = umask  # None: the test runner's
        self.log_path = os.path.join(self.dir, "wincrid.log")
        self.proc = None
        self.channels = []

    def start(self, wait=True, env_extra=None):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.pop("WINCRI_CRASH_AT", None)
        env.update(env_extra or {})
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen([WINCRID, "--config", self.config_path] + self.args,
                                     stdout=self.log_file, stderr=subprocess.STDOUT, env=env,
                                     umask=-1 if self.umask is None else self.umask)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"wincrid exited {self.proc.returncode}:\n{self.log()}")
            try:
                self.runtime().Version(PB.VersionRequest(), timeout=1)
                return
            except grpc.RpcError:
                time.sleep(0.05)
        raise RuntimeError(f"wincrid not ready after {timeout}s:\n{self.log()}")

    def channel(self, target=None):
        ch = grpc.insecure_channel(target or self.endpoint, options=[
            ("grpc.max_send_message_length", MAX_MSG + 1024 * 1024),
            ("grpc.max_receive_message_length", MAX_MSG + 1024 * 1024)])
        self.channels.append(ch)
        return ch

    def runtime(self, target=None):
        return PB_GRPC.RuntimeServiceStub(self.channel(target))

    def image(self, target=None):
        return PB_GRPC.ImageServiceStub(self.channel(target))

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def internal_endpoint(self):
        with open(os.path.join(self.state, "grpc-internal-endpoint")) as f:
            return f.read().strip()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stops the daemon and returns its exit code; sanitizer reports fail the test."""
        if self.proc is None or self.proc.poll() is not None:
            self._close_channels()
            return self.proc.returncode if self.proc else None
        # Channels stay open until the process is gone, so calls in flight see the shutdown.
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"wincrid did not stop within {timeout}s:\n{self.log()}")
        self.log_file.close()
        self._close_channels()
        assert_sanitizer_clean(self.log())
        return self.proc.returncode

    def _close_channels(self):
        for ch in self.channels:
            ch.close()
        self.channels = []

    def keeper_pid(self):
        """The stdio keeper's pid (it outlives wincrid), or None."""
        try:
            with open(os.path.join(self.state, "keeper", "keeper.lock")) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except OSError:
            return None
        return pid

    def stop_keeper(self):
        pid = self.keeper_pid()
        if pid:
            os.kill(pid, signal.SIGKILL)
            deadline = time.time() + 10
            while time.time() < deadline and self.keeper_pid() == pid:
                time.sleep(0.02)

    def cleanup(self):
        self.stop()
        self.stop_keeper()
        shutil.rmtree(self.dir, ignore_errors=True)


def assert_sanitizer_clean(log):
    for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        assert marker not in log, f"sanitizer report in wincrid log:\n{log[-6000:]}"


def _deep_update(dst, src):
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict) and k not in ("registries",):
            _deep_update(dst[k], v)
        else:
            dst[k] = v


@pytest.fixture
def daemon_factory():
    """Makes daemons with extra config; each is stopped and removed after the test."""
    made = []

    def make(extra=None, start=True, args=None):
        d = Daemon(extra, args)
        made.append(d)
        if start:
            d.start()
        return d

    yield make
    for d in made:
        d.cleanup()


@pytest.fixture(scope="session")
def wincrid():
    """A daemon shared by the tests that do not change its config."""
    d = Daemon().start()
    yield d
    d.cleanup()


@pytest.fixture
def runtime(wincrid):
    return wincrid.runtime()


@pytest.fixture
def image(wincrid):
    return wincrid.image()
