"""The streaming server's Windows layer (cri/streaming_win32.c) under wine, driven from Linux
by the clients the Linux protocol tests use: python3-websocket, and the Go SPDY client on
docker/spdystream when it is built. tests/streaming/stream_testd_win32.c is the server with
a stand-in backend of Windows process and pipe APIs (CreateProcess with pipe std handles,
TerminateProcess, winsock connect to 127.0.0.1 for port forwarding). wincrid.exe itself
must start its streaming listener under wine too.

Needs mingw-w64, wine and the dependency cache of `make windows`. Run with
/usr/bin/python3 -m pytest -q tests/windows/test_wine_streaming.py
"""
import json
import os
import shutil
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time

import pytest

websocket = pytest.importorskip("websocket", reason="needs Debian's python3-websocket")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
sys.path.insert(0, os.path.dirname(__file__))
# The WebSocket/SPDY client helpers are the Linux protocol tests' own.
from test_streaming_protocol import (  # noqa: E402
    SPDY, WS_HDRS, Echo, http_status, need_spdy, spdy, status, ws_forward, ws_run, ws_url)
from test_wine_daemon import exe, free_port  # noqa: E402,F401  (exe: a fixture)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TESTD = os.path.join(REPO, "build", "streaming", "stream_testd_win32.exe")
PREFIX = os.environ.get("WINEPREFIX", "/var/cache/wincri/wineprefix")
ENV = dict(os.environ, WINEDEBUG="-all", WINEPREFIX=PREFIX)


def win_path(p):
    """The Linux path as wine's Z: drive shows it."""
    return "Z:" + os.path.abspath(p).replace("/", "\\")


SELF = win_path(TESTD)  # the test server doubles as a --cat / --exit helper program


@pytest.fixture(scope="module", autouse=True)
def built():
    if not shutil.which("wine"):
        pytest.skip("wine is not installed")
    subprocess.run([os.path.join(REPO, "tests", "streaming", "build_win32.sh")], check=True)
    if not os.path.exists(SPDY) and shutil.which("go"):
        subprocess.run([os.path.join(REPO, "tests", "streaming", "build.sh")], check=True)


class WineTestd:
    __test__ = False

    def __init__(self, *args):
        self.p = subprocess.Popen(["wine", TESTD, *args], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, env=ENV)
        hello = json.loads(self.p.stdout.readline())
        self.base = hello["base"]

    def url(self, **req):
        self.p.stdin.write(json.dumps(req) + "\n")
        self.p.stdin.flush()
        r = json.loads(self.p.stdout.readline())
        assert "url" in r, r
        return r["url"]

    def exec_url(self, cmd, **flags):
        return self.url(kind="exec", id="c1", cmd=cmd, **flags)

    def stop(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)
        assert self.p.returncode == 0


@pytest.fixture(scope="module")
def testd():
    d = WineTestd()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def echo_port():
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()


# ---- exec over WebSocket ----

def test_exec_exit_codes_through_v4_error_stream(testd):
    got = ws_run(testd.exec_url(["cmd", "/c", "echo hi"], stdout=True))
    assert got[1].strip() == b"hi" and status(got[3]) == 0
    got = ws_run(testd.exec_url([SELF, "--exit", "42"], stdout=True))
    assert got[1].strip() == b"x" and status(got[3]) == 42
    got = ws_run(testd.exec_url(["cmd", "/c", "exit", "3"], stdout=True))
    assert status(got[3]) == 3


def test_exec_stderr_channel(testd):
    got = ws_run(testd.exec_url(["cmd", "/c", "echo oops 1>&2"], stdout=True, stderr=True))
    assert got[2].strip() == b"oops" and status(got[3]) == 0


def test_stdin_echo_with_v5_close(testd):
    url = testd.exec_url([SELF, "--cat"], stdin=True, stdout=True)
    got = ws_run(url, "v5.channel.k8s.io", send=[(0, b"hello "), (0, b"wine\n"), (255, b"\x00")])
    assert got[1] == b"hello wine\n" and status(got[3]) == 0


def test_stdin_larger_than_a_pipe_buffer(testd):
    data = os.urandom(150000).hex().encode()  # well past the pipe's buffer: non-blocking writes
    url = testd.exec_url([SELF, "--cat"], stdin=True, stdout=True)
    chunks = [(0, data[i:i + 30000]) for i in range(0, len(data), 30000)]
    got = ws_run(url, "v5.channel.k8s.io", send=chunks + [(255, b"\x00")], timeout=60)
    assert got[1] == data and status(got[3]) == 0


# ---- port forwarding ----

def test_port_forward_to_tcp_echo(testd, echo_port):
    got, errs = ws_forward(testd.url(kind="portforward", id="p1", ports=[echo_port]),
                           b"ping through wine")
    assert got == b"ping through wine", errs


def test_port_forward_refused_reports_error(testd):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    ws = websocket.create_connection(ws_url(testd.url(kind="portforward", id="p1",
                                                      ports=[port])),
                                     subprotocols=["v4.channel.k8s.io"], timeout=15)
    msgs = []
    while True:
        op, data = ws.recv_data(control_frame=True)
        if op == websocket.ABNF.OPCODE_CLOSE:
            break
        msgs.append(data)
    assert any(m[0] == 1 and b"error forwarding port" in m for m in msgs), msgs


# ---- tokens ----

def test_reused_and_unknown_tokens_rejected(testd):
    url = testd.exec_url(["cmd", "/c", "exit", "0"], stdout=True)
    ws_run(url)
    assert http_status(url, WS_HDRS) == 404
    assert http_status(testd.base + "/exec/nosuchtoken", WS_HDRS) == 404


def test_expired_token_rejected():
    d = WineTestd("--ttl-ms", "300")
    try:
        url = d.exec_url(["cmd", "/c", "exit", "0"], stdout=True)
        time.sleep(0.6)
        assert http_status(url, WS_HDRS) == 404
    finally:
        d.stop()


# ---- a client that vanishes ----

def wine_procs(marker):
    """Linux pids of wine processes whose command line holds marker."""
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if marker in f.read():
                        found.append(int(d))
            except OSError:
                pass
    return found


def test_client_drop_kills_process(testd):
    marker = "drop" + os.urandom(4).hex()
    url = testd.exec_url([SELF, "--cat", marker], stdin=True, stdout=True)
    ws = websocket.create_connection(ws_url(url), subprotocols=["v4.channel.k8s.io"],
                                     timeout=15)
    ws.send_binary(b"\x00started\n")
    seen = b""
    while b"started" not in seen:
        seen += ws.recv()[1:]
    assert wine_procs(marker.encode())
    ws.sock.shutdown(socket.SHUT_RDWR)  # no close frame: the client just goes
    ws.sock.close()
    deadline = time.time() + 15
    while wine_procs(marker.encode()) and time.time() < deadline:
        time.sleep(0.2)
    assert not wine_procs(marker.encode())


# ---- SPDY (Go client on docker/spdystream) ----

def test_spdy_exec_and_port_forward(testd, echo_port):
    need_spdy()
    r = spdy(["exec", testd.exec_url([SELF, "--exit", "42"], stdout=True)])
    assert r.returncode == 42 and b"PROTO v4.channel.k8s.io" in r.stderr, r.stderr
    data = os.urandom(100000).hex().encode()
    r = spdy(["exec", testd.exec_url([SELF, "--cat"], stdin=True, stdout=True), "-stdin"], data)
    assert r.returncode == 0 and r.stdout == data, r.stderr
    r = spdy(["portforward", testd.url(kind="portforward", id="p1"), "-port", str(echo_port),
              "-count", "2"], b"spdy echo")
    assert r.returncode == 0 and r.stdout == b"spdy echo" * 2, r.stderr


# ---- TLS through the cross-built OpenSSL ----

def test_tls_exec(tmp_path):
    if not shutil.which("openssl"):
        pytest.skip("openssl command not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    d = WineTestd("--tls-cert", win_path(cert), "--tls-key", win_path(key))
    try:
        url = d.exec_url([SELF, "--exit", "4"], stdout=True)
        assert url.startswith("https://")
        got = ws_run(url, sslopt={"cert_reqs": ssl.CERT_NONE})
        assert got[1].strip() == b"x" and status(got[3]) == 4
    finally:
        d.stop()


# ---- wincrid.exe ----

def test_wincrid_starts_its_streaming_server(exe, tmp_path):  # noqa: F811
    """Before the Windows layer, wincrid.exe logged Exec/Attach/PortForward as unavailable;
    now its streaming listener answers on the configured port (an unknown token: 404)."""
    name = "wcs" + os.urandom(4).hex()
    drive = os.path.join(PREFIX, "drive_c")
    port, sport = free_port(), free_port()
    cfg = {"root": f"C:\\{name}\\root", "state": f"C:\\{name}\\state",
           "listen": f"tcp://127.0.0.1:{port}", "streaming": {"port": sport}}
    with open(os.path.join(drive, f"{name}.json"), "w") as f:
        json.dump(cfg, f)
    log = open(tmp_path / "wincrid.log", "w")
    proc = subprocess.Popen(["wine", exe, "--console", "--config", f"C:\\{name}.json"],
                            stdout=log, stderr=subprocess.STDOUT, env=ENV)
    try:
        deadline, code = time.time() + 120, None
        while code is None and time.time() < deadline and proc.poll() is None:
            try:
                code = http_status(f"http://127.0.0.1:{sport}/exec/nosuchtoken", WS_HDRS)
            except OSError:
                time.sleep(0.5)
        assert code == 404, open(tmp_path / "wincrid.log").read()
    finally:
        proc.kill()
        proc.wait(30)
        shutil.rmtree(os.path.join(drive, name), ignore_errors=True)
        os.unlink(os.path.join(drive, f"{name}.json"))
