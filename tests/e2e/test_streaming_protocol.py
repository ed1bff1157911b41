"""Exec, attach and port-forward through wincri's streaming server with real clients:
WebSocket via Debian's python3-websocket, SPDY/3.1 via a Go client on Debian's
docker/spdystream. The server runs inside tests/streaming/stream_testd, whose stand-in
backend runs commands as host processes and forwards to 127.0.0.1 (test scaffolding)."""
import base64
import http.server
import json
import os
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
import time

import pytest

websocket = pytest.importorskip("websocket", reason="needs Debian's python3-websocket")

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(REPO, "build", "streaming")
TESTD = os.path.join(OUT, "stream_testd")
SPDY = os.path.join(OUT, "spdyclient")


@pytest.fixture(scope="module", autouse=True)
def built():
    subprocess.run([os.path.join(REPO, "tests", "streaming", "build.sh")], check=True)


def need_spdy():
    if not os.path.exists(SPDY):
        pytest.skip("Go or golang-github-docker-spdystream-dev is not installed "
                    "(apt-get install golang-go golang-github-docker-spdystream-dev)")


class Testd:
    __test__ = False

    def __init__(self, *args):
        self.p = subprocess.Popen([TESTD, *args], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        hello = json.loads(self.p.stdout.readline())
        self.base, self.pid = hello["base"], hello["pid"]

    def ask(self, **req):
        self.p.stdin.write(json.dumps(req) + "\n")
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())

    def url(self, **req):
        r = self.ask(**req)
        assert "url" in r, r
        return r["url"]

    def exec_url(self, cmd, **flags):
        return self.url(kind="exec", id="c1", cmd=cmd, **flags)

    def fds(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def stop(self):
        self.p.stdin.close()
        self.p.wait(timeout=20)
        assert self.p.returncode == 0


@pytest.fixture(scope="module")
def testd():
    d = Testd()
    yield d
    d.stop()


def ws_url(url):
    return "ws" + url[len("http"):]


def ws_run(url, proto="v4.channel.k8s.io", send=(), b64=False, timeout=15, **kw):
    """Runs a remotecommand session; returns ({channel: bytes}, close seen)."""
    ws = websocket.create_connection(ws_url(url), subprotocols=[proto] if proto else None,
                                     timeout=timeout, **kw)
    for ch, data in send:
        frame = bytes([ch]) + data
        if b64:
            ws.send(str(ch) + base64.b64encode(data).decode())
        else:
            ws.send_binary(frame)
    got = {}
    while True:
        op, data = ws.recv_data(control_frame=True)
        if op == websocket.ABNF.OPCODE_CLOSE:
            break
        if b64:
            ch, data = int(chr(data[0])), base64.b64decode(data[1:])
        else:
            ch, data = data[0], data[1:]
        got[ch] = got.get(ch, b"") + data
    ws.close()
    return got


def status(raw):
    st = json.loads(raw)
    if st["status"] == "Success":
        return 0
    assert st["reason"] == "NonZeroExitCode", st
    cause = st["details"]["causes"][0]
    assert cause["reason"] == "ExitCode"
    return int(cause["message"])


# ---- WebSocket exec ----

def test_ws_exec_exit_codes(testd):
    got = ws_run(testd.exec_url(["sh", "-c", "echo out; echo err >&2"], stdout=True,
                                stderr=True))
    assert got[1] == b"out\n" and got[2] == b"err\n" and status(got[3]) == 0
    got = ws_run(testd.exec_url(["sh", "-c", "echo x; exit 42"], stdout=True))
    assert got[1] == b"x\n" and status(got[3]) == 42


def test_ws_v5_stdin_echo_and_close(testd):
    url = testd.exec_url(["cat"], stdin=True, stdout=True)
    got = ws_run(url, "v5.channel.k8s.io", send=[(0, b"hello "), (0, b"cat\n"), (255, b"\x00")])
    assert got[1] == b"hello cat\n" and status(got[3]) == 0


def test_ws_base64_protocol(testd):
    url = testd.exec_url(["sh", "-c", "printf '\\001\\377'; exit 3"], stdout=True)
    got = ws_run(url, "v4.base64.channel.k8s.io", b64=True)
    assert got[1] == b"\x01\xff" and status(got[3]) == 3


def test_ws_pre_v4_protocol_reports_text(testd):
    got = ws_run(testd.exec_url(["sh", "-c", "exit 7"], stdout=True), "channel.k8s.io")
    assert b"non-zero exit code" in got[3] and b"7" in got[3]
    got = ws_run(testd.exec_url(["true"], stdout=True), None)  # no subprotocol at all
    assert 3 not in got or got[3] == b""


def test_ws_tty_resize(testd):
    url = testd.exec_url(["sh", "-c", "sleep 0.5; stty size"], tty=True, stdin=True,
                         stdout=True)
    got = ws_run(url, send=[(4, b'{"Width":123,"Height":45}')])
    assert got[1].strip() == b"45 123" and status(got[3]) == 0
    got = ws_run(testd.exec_url(["stty", "size"], tty=True, stdout=True))
    assert got[1].strip() == b"24 80"


def test_ws_attach_two_watchers(testd):
    a = websocket.create_connection(ws_url(testd.url(kind="attach", id="c1", stdout=True)),
                                    subprotocols=["v4.channel.k8s.io"], timeout=10)
    b = websocket.create_connection(ws_url(testd.url(kind="attach", id="c1", stdout=True)),
                                    subprotocols=["v4.channel.k8s.io"], timeout=10)
    for ws in (a, b):
        seen = b""
        while b"tick" not in seen:
            data = ws.recv()
            if data[:1] == b"\x01":
                seen += data[1:]
        ws.close()


# ---- tokens and HTTP errors ----

def http_status(url, headers=None):
    host, port = url.split("/")[2].split(":")
    path = "/" + url.split("/", 3)[3]
    s = socket.create_connection((host, int(port)), timeout=10)
    hdrs = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{hdrs}\r\n".encode())
    line = s.makefile("rb").readline()
    s.close()
    return int(line.split()[1])


WS_HDRS = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


def test_token_single_use(testd):
    url = testd.exec_url(["true"], stdout=True)
    ws_run(url)
    assert http_status(url, WS_HDRS) == 404
    assert http_status(testd.base + "/exec/nosuchtoken", WS_HDRS) == 404
    assert http_status(testd.base + "/other/x", WS_HDRS) == 404


def test_token_expires():
    d = Testd("--ttl-ms", "300")
    try:
        url = d.exec_url(["true"], stdout=True)
        time.sleep(0.6)
        assert http_status(url, WS_HDRS) == 404
    finally:
        d.stop()


def test_upgrade_required_and_protocols(testd):
    assert http_status(testd.exec_url(["true"], stdout=True)) == 400
    spdy = {"Connection": "Upgrade", "Upgrade": "SPDY/3.1",
            "X-Stream-Protocol-Version": "v9.channel.k8s.io"}
    assert http_status(testd.exec_url(["true"], stdout=True), spdy) == 403
    bad_ws = dict(WS_HDRS, **{"Sec-WebSocket-Protocol": "nope"})
    assert http_status(testd.exec_url(["true"], stdout=True), bad_ws) == 400


def test_request_validation(testd):
    r = testd.ask(kind="exec", id="c1", cmd=["true"], tty=True, stdout=True, stderr=True)
    assert r["code"] == 3 and "tty" in r["error"] and "stderr" in r["error"]
    r = testd.ask(kind="exec", id="c1", cmd=["true"])
    assert r["code"] == 3 and "stdin" in r["error"]
    r = testd.ask(kind="exec", id="c1", cmd=[], stdout=True)
    assert r["code"] == 3


# ---- port-forward targets ----

class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                break
            self.request.sendall(data)


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def targets(tmp_path_factory):
    root = tmp_path_factory.mktemp("www")
    (root / "index.html").write_text("hello from httpd\n")
    echo = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    handler = lambda *a, **k: Quiet(*a, directory=str(root), **k)  # noqa: E731
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    for srv in (echo, web):
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield {"echo": echo.server_address[1], "http": web.server_address[1]}
    echo.shutdown()
    web.shutdown()


def ws_forward(url, payload, port_count=1):
    ws = websocket.create_connection(ws_url(url), subprotocols=["v4.channel.k8s.io"],
                                     timeout=10)
    got, errs = b"", b""
    prefixes = 0
    while prefixes < 2 * port_count:  # every channel opens with its port number
        data = ws.recv()
        assert len(data) == 3
        prefixes += 1
    ws.send_binary(b"\x00" + payload)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            op, data = ws.recv_data(control_frame=True)
        except websocket.WebSocketTimeoutException:
            break
        if op == websocket.ABNF.OPCODE_CLOSE:
            break
        if data[0] == 0:
            got += data[1:]
        else:
            errs += data[1:]
        if payload.startswith(b"GET") and b"hello from httpd" in got:
            break
        if not payload.startswith(b"GET") and len(got) >= len(payload):
            break
    ws.close()
    return got, errs


def test_ws_port_forward_echo_and_http(testd, targets):
    url = testd.url(kind="portforward", id="p1", ports=[targets["echo"]])
    got, _ = ws_forward(url, b"ping over websocket")
    assert got == b"ping over websocket"
    url = testd.url(kind="portforward", id="p1")
    got, _ = ws_forward(url + f"?port={targets['http']}", b"GET / HTTP/1.0\r\n\r\n")
    assert b"200" in got.split(b"\r\n")[0] and b"hello from httpd" in got


def test_ws_port_forward_refused(testd):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    ws = websocket.create_connection(ws_url(testd.url(kind="portforward", id="p1",
                                                      ports=[port])),
                                     subprotocols=["v4.channel.k8s.io"], timeout=10)
    msgs = []
    while True:
        op, data = ws.recv_data(control_frame=True)
        if op == websocket.ABNF.OPCODE_CLOSE:
            break
        msgs.append(data)
    assert any(m[0] == 1 and b"error forwarding port" in m for m in msgs)


# ---- SPDY ----

def spdy(args, inp=b"", timeout=30):
    return subprocess.run([SPDY, *args], input=inp, capture_output=True, timeout=timeout)


def test_spdy_exec_exit_codes(testd):
    need_spdy()
    r = spdy(["exec", testd.exec_url(["sh", "-c", "echo hi; echo e >&2"], stdout=True,
                                     stderr=True), "-stderr"])
    assert r.returncode == 0 and r.stdout == b"hi\n" and b"e\n" in r.stderr
    r = spdy(["exec", testd.exec_url(["sh", "-c", "exit 42"], stdout=True)])
    assert r.returncode == 42, r.stderr
    assert b"PROTO v4.channel.k8s.io" in r.stderr


def test_spdy_stdin_echo_half_close(testd):
    need_spdy()
    data = os.urandom(300000).hex().encode()  # larger than SPDY's initial window
    r = spdy(["exec", testd.exec_url(["cat"], stdin=True, stdout=True), "-stdin"], data)
    assert r.returncode == 0 and r.stdout == data


def test_spdy_tty_resize(testd):
    need_spdy()
    url = testd.exec_url(["sh", "-c", "sleep 0.5; stty size"], tty=True, stdout=True)
    r = spdy(["exec", url, "-tty", "-resize", "123x45"])
    assert r.returncode == 0 and r.stdout.strip() == b"45 123"
    r = spdy(["exec", testd.exec_url(["stty", "size"], tty=True, stdout=True), "-tty"])
    assert r.stdout.strip() == b"24 80"


def test_spdy_older_protocols(testd):
    need_spdy()
    url = testd.exec_url(["sh", "-c", "echo old; exit 5"], stdout=True)
    r = spdy(["exec", url, "-proto", "v9.channel.k8s.io,v2.channel.k8s.io"])
    assert b"PROTO v2.channel.k8s.io" in r.stderr and r.stdout == b"old\n"
    assert r.returncode == 99 and b"non-zero exit code" in r.stderr


def test_spdy_port_forward(testd, targets):
    need_spdy()
    url = testd.url(kind="portforward", id="p1")
    r = spdy(["portforward", url, "-port", str(targets["echo"]), "-count", "3"], b"echo me")
    assert r.returncode == 0 and r.stdout == b"echo me" * 3, r.stderr
    url = testd.url(kind="portforward", id="p1")
    r = spdy(["portforward", url, "-port", str(targets["http"])], b"GET / HTTP/1.0\r\n\r\n")
    assert b"hello from httpd" in r.stdout, r.stderr


def test_spdy_port_forward_bulk(testd, targets):
    need_spdy()
    data = os.urandom(4 << 20)
    r = spdy(["portforward", testd.url(kind="portforward", id="p1"), "-port",
              str(targets["echo"])], data, timeout=60)
    assert r.returncode == 0 and r.stdout == data


# ---- clients that vanish ----

def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read()
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if int(st.rsplit(")", 1)[1].split()[1]) == pid and b"1234" in cmd:
                out.append(int(d))
    return out


def quiet_fds(testd):
    """The server's descriptor count once earlier connections have wound down."""
    last, same = -1, 0
    for _ in range(100):
        n = testd.fds()
        same = same + 1 if n == last else 0
        if same >= 3:
            return n
        last = n
        time.sleep(0.1)
    return last


def settle(testd, fds):
    deadline = time.time() + 10
    while time.time() < deadline:
        if not children(testd.pid) and testd.fds() <= fds:
            return True
        time.sleep(0.1)
    return False


def test_ws_client_drop_kills_process(testd):
    ws_run(testd.exec_url(["true"], stdout=True))  # warm up
    fds = quiet_fds(testd)
    url = testd.exec_url(["sh", "-c", "echo started; exec sleep 1234"], stdin=True,
                         stdout=True)
    ws = websocket.create_connection(ws_url(url), subprotocols=["v4.channel.k8s.io"],
                                     timeout=10)
    seen = b""
    while b"started" not in seen:
        seen += ws.recv()
    assert children(testd.pid)
    ws.sock.shutdown(socket.SHUT_RDWR)  # no close frame: the client just goes
    ws.sock.close()
    assert settle(testd, fds), (children(testd.pid), testd.fds(), fds)


def test_spdy_client_drop_kills_process(testd):
    need_spdy()
    spdy(["exec", testd.exec_url(["true"], stdout=True)])
    fds = quiet_fds(testd)
    url = testd.exec_url(["sh", "-c", "echo started; exec sleep 1234"], stdin=True,
                         stdout=True)
    r = spdy(["exec", url, "-stdin", "-drop"])
    assert b"started" in r.stdout
    assert settle(testd, fds), (children(testd.pid), testd.fds(), fds)


# ---- TLS ----

@pytest.fixture(scope="module")
def tls_testd(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("openssl command not installed")
    d = tmp_path_factory.mktemp("tls")
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    t = Testd("--tls-cert", cert, "--tls-key", key)
    yield t
    t.stop()


def test_tls_websocket_and_spdy(tls_testd):
    url = tls_testd.exec_url(["sh", "-c", "echo secure; exit 4"], stdout=True)
    assert url.startswith("https://")
    got = ws_run(url, sslopt={"cert_reqs": ssl.CERT_NONE})
    assert got[1] == b"secure\n" and status(got[3]) == 4
    need_spdy()
    r = spdy(["exec", tls_testd.exec_url(["cat"], stdin=True, stdout=True), "-stdin"],
             b"over tls")
    assert r.returncode == 0 and r.stdout == b"over tls"
