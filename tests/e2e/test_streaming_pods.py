"""Exec, Attach and PortForward for real pods: a real wincrid (runc, CNI, an image from a local
registry, see test_pods.py) and real clients, Debian's python3-websocket and the Go SPDY
client on Debian's docker/spdystream (built by tests/streaming/build.sh)."""
import json
import os
import socket
import subprocess
import time

import grpc
import pytest

from conftest import PB
from conftest_images import registries  # noqa: F401  (fixture)
from test_pods import env, forward_guard, run_pod, start_container, wait_state  # noqa: F401

websocket = pytest.importorskip("websocket", reason="needs Debian's python3-websocket")

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SPDY = os.path.join(REPO, "build", "streaming", "spdyclient")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="pods need root")


@pytest.fixture(scope="module", autouse=True)
def built():
    subprocess.run([os.path.join(REPO, "tests", "streaming", "build.sh")], check=True)


def need_spdy():
    if not os.path.exists(SPDY):
        pytest.skip("Go or golang-github-docker-spdystream-dev is not installed")


@pytest.fixture(scope="module")
def pod(env):  # noqa: F811
    """One pod with a long-running container to exec into."""
    sid, scfg = run_pod(env)
    cid = start_container(env, sid, scfg, "shell", ["sleep", "3600"])
    wait_state(env, cid, PB.CONTAINER_RUNNING)
    return sid, scfg, cid


# ---- clients ----

def ws_url(url):
    return "ws" + url[len("http"):]


def ws_run(url, proto="v4.channel.k8s.io", send=(), timeout=20):
    """Runs a remotecommand session to its end; returns {channel: bytes}."""
    ws = websocket.create_connection(ws_url(url), subprotocols=[proto], timeout=timeout)
    for ch, data in send:
        ws.send_binary(bytes([ch]) + data)
    got = {}
    while True:
        op, data = ws.recv_data(control_frame=True)
        if op == websocket.ABNF.OPCODE_CLOSE:
            break
        got[data[0]] = got.get(data[0], b"") + data[1:]
    ws.close()
    return got


def status(raw):
    st = json.loads(raw)
    if st["status"] == "Success":
        return 0
    assert st["reason"] == "NonZeroExitCode", st
    return int(st["details"]["causes"][0]["message"])


def spdy(args, inp=b"", timeout=60):
    return subprocess.run([SPDY, *args], input=inp, capture_output=True, timeout=timeout)


def exec_url(env, cid, cmd, **flags):  # noqa: F811
    return env.d.runtime().Exec(PB.ExecRequest(container_id=cid, cmd=cmd, **flags), timeout=10).url


def attach_ws(env, cid, **flags):  # noqa: F811
    url = env.d.runtime().Attach(PB.AttachRequest(container_id=cid, **flags), timeout=10).url
    return websocket.create_connection(ws_url(url), subprotocols=["v4.channel.k8s.io"],
                                       timeout=20)


def recv_until(ws, needle, channel=1):
    seen = b""
    while needle not in seen:
        data = ws.recv()
        if data[:1] == bytes([channel]):
            seen += data[1:]
    return seen


def pf_url(env, sid, ports=()):  # noqa: F811
    return env.d.runtime().PortForward(PB.PortForwardRequest(pod_sandbox_id=sid, port=list(ports)),
                                       timeout=10).url


def ws_forward(url, payload, until):
    """Sends payload on the first port's data channel; reads until `until` is seen."""
    ws = websocket.create_connection(ws_url(url), subprotocols=["v4.channel.k8s.io"], timeout=20)
    for _ in range(2):  # each channel opens with its port number
        assert len(ws.recv()) == 3
    ws.send_binary(b"\x00" + payload)
    got = b""
    deadline = time.time() + 20
    while until not in got and time.time() < deadline:
        op, data = ws.recv_data(control_frame=True)
        if op == websocket.ABNF.OPCODE_CLOSE:
            break
        if data[0] == 0:
            got += data[1:]
    ws.close()
    return got


def processes(env, cid):  # noqa: F811
    """Command lines of every process in the container (busybox has no ps)."""
    script = "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done"
    r = env.d.runtime().ExecSync(PB.ExecSyncRequest(container_id=cid, cmd=["sh", "-c", script],
                                                    timeout=10))
    return r.stdout.decode()


# ---- exec ----

def test_exec_with_and_without_tty(env, pod):  # noqa: F811
    _, _, cid = pod
    got = ws_run(exec_url(env, cid, ["echo", "hi"], stdout=True))
    assert got[1] == b"hi\n" and status(got[3]) == 0
    got = ws_run(exec_url(env, cid, ["echo", "hi"], stdout=True, tty=True))
    assert got[1] == b"hi\r\n" and status(got[3]) == 0
    got = ws_run(exec_url(env, cid, ["sh", "-c", "echo out; echo err >&2"], stdout=True,
                          stderr=True))
    assert got[1] == b"out\n" and got[2] == b"err\n"


def test_exec_exit_codes(env, pod):  # noqa: F811
    _, _, cid = pod
    got = ws_run(exec_url(env, cid, ["sh", "-c", "exit 42"], stdout=True))
    assert status(got[3]) == 42
    got = ws_run(exec_url(env, cid, ["true"], stdout=True))
    assert status(got[3]) == 0
    need_spdy()
    r = spdy(["exec", exec_url(env, cid, ["sh", "-c", "echo hi; exit 42"], stdout=True)])
    assert r.returncode == 42 and r.stdout == b"hi\n", r.stderr
    r = spdy(["exec", exec_url(env, cid, ["echo", "hi"], stdout=True)])
    assert r.returncode == 0 and r.stdout == b"hi\n", r.stderr


def test_exec_stdin_echo(env, pod):  # noqa: F811
    _, _, cid = pod
    got = ws_run(exec_url(env, cid, ["cat"], stdin=True, stdout=True), "v5.channel.k8s.io",
                 send=[(0, b"hello "), (0, b"cat\n"), (255, b"\x00")])
    assert got[1] == b"hello cat\n" and status(got[3]) == 0
    need_spdy()
    data = os.urandom(200000).hex().encode()
    r = spdy(["exec", exec_url(env, cid, ["cat"], stdin=True, stdout=True), "-stdin"], data)
    assert r.returncode == 0 and r.stdout == data, r.stderr[-500:]


def test_exec_tty_resize(env, pod):  # noqa: F811
    _, _, cid = pod
    got = ws_run(exec_url(env, cid, ["stty", "size"], stdout=True, tty=True))
    assert got[1].strip() == b"24 80"
    url = exec_url(env, cid, ["sh", "-c", "sleep 0.5; stty size"], stdin=True, stdout=True,
                   tty=True)
    got = ws_run(url, send=[(4, b'{"Width":123,"Height":45}')])
    assert got[1].strip() == b"45 123" and status(got[3]) == 0
    need_spdy()
    url = exec_url(env, cid, ["sh", "-c", "sleep 0.5; stty size"], stdout=True, tty=True)
    r = spdy(["exec", url, "-tty", "-resize", "100x30"])
    assert r.returncode == 0 and r.stdout.strip() == b"30 100", r.stderr


def wait_gone(env, cid, needle, timeout=10):  # noqa: F811
    deadline = time.time() + timeout
    while time.time() < deadline:
        if needle not in processes(env, cid):
            return True
        time.sleep(0.2)
    return False


def test_exec_killed_when_client_drops(env, pod):  # noqa: F811
    _, _, cid = pod
    url = exec_url(env, cid, ["sh", "-c", "echo started; exec sleep 1234"], stdin=True,
                   stdout=True)
    ws = websocket.create_connection(ws_url(url), subprotocols=["v4.channel.k8s.io"], timeout=20)
    recv_until(ws, b"started")
    assert "sleep 1234" in processes(env, cid)
    ws.sock.shutdown(socket.SHUT_RDWR)  # no close frame: the client just goes
    ws.sock.close()
    assert wait_gone(env, cid, "sleep 1234"), processes(env, cid)
    need_spdy()
    url = exec_url(env, cid, ["sh", "-c", "echo started; exec sleep 4321"], stdin=True,
                   stdout=True, tty=True)
    r = spdy(["exec", url, "-stdin", "-tty", "-drop"])
    assert b"started" in r.stdout
    assert wait_gone(env, cid, "sleep 4321"), processes(env, cid)


def test_exec_errors(env, pod):  # noqa: F811
    rt = env.d.runtime()
    sid, scfg = run_pod(env)
    cid = start_container(env, sid, scfg, "done", ["true"])
    wait_state(env, cid, PB.CONTAINER_EXITED)
    with pytest.raises(grpc.RpcError) as e:
        rt.Exec(PB.ExecRequest(container_id=cid, cmd=["true"], stdout=True))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as e:
        rt.Attach(PB.AttachRequest(container_id=cid, stdout=True))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    for call, req in [(rt.Exec, PB.ExecRequest(container_id="f" * 64, cmd=["true"], stdout=True)),
                      (rt.Attach, PB.AttachRequest(container_id="f" * 64, stdout=True)),
                      (rt.PortForward, PB.PortForwardRequest(pod_sandbox_id="f" * 64, port=[80]))]:
        with pytest.raises(grpc.RpcError) as e:
            call(req)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as e:
        rt.Exec(PB.ExecRequest(container_id=pod[2], cmd=["true"]))  # no stream asked for
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    rt.StopPodSandbox(PB.StopPodSandboxRequest(pod_sandbox_id=sid))
    with pytest.raises(grpc.RpcError) as e:
        rt.PortForward(PB.PortForwardRequest(pod_sandbox_id=sid, port=[80]))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION


# ---- attach ----

TICKER = ["/bin/sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"]


def wait_log_text(scfg, name, needle, timeout=10):
    """The log is written right after attachers get the bytes: give it a moment."""
    deadline = time.time() + timeout
    text = ""
    while needle not in text and time.time() < deadline:
        with open(os.path.join(scfg.log_directory, f"{name}.log")) as f:
            text = f.read()
        time.sleep(0.05)
    assert needle in text, text
    return text


def log_size(scfg, name):
    return os.path.getsize(os.path.join(scfg.log_directory, f"{name}.log"))


def test_attach_two_watchers_while_the_log_grows(env):  # noqa: F811
    sid, scfg = run_pod(env)
    cid = start_container(env, sid, scfg, "ticker", TICKER)
    wait_state(env, cid, PB.CONTAINER_RUNNING)
    a = attach_ws(env, cid, stdout=True, stderr=True)
    b = attach_ws(env, cid, stdout=True, stderr=True)
    before = log_size(scfg, "ticker")
    for ws in (a, b):
        recv_until(ws, b"tick")
    seen = recv_until(a, b"\n", 1)
    time.sleep(0.5)
    assert log_size(scfg, "ticker") > before
    n = int(seen.split(b"tick ")[-1].split(b"\n")[0]) if b"tick " in seen else 0
    recv_until(b, f"tick {n + 3}\n".encode())
    a.close()
    # the other watcher goes on after the first one left
    recv_until(b, f"tick {n + 8}\n".encode())
    b.close()


def test_attach_stdin_and_exit(env):  # noqa: F811
    sid, scfg = run_pod(env)
    cid = start_container(env, sid, scfg, "reader",
                          ["/bin/sh", "-c", "while read l; do echo got $l; done; exit 3"],
                          stdin=True)
    wait_state(env, cid, PB.CONTAINER_RUNNING)
    ws = attach_ws(env, cid, stdin=True, stdout=True)
    ws.send_binary(b"\x00hello\n")
    recv_until(ws, b"got hello")
    ws.close()
    # a second attacher reaches the same stdin: the first one's leaving did not close it
    ws = attach_ws(env, cid, stdin=True, stdout=True)
    ws.send_binary(b"\x00again\n")
    recv_until(ws, b"got again")
    ws.close()
    text = wait_log_text(scfg, "reader", "got again")
    assert "got hello" in text


def test_attach_stdin_once(env):  # noqa: F811
    sid, scfg = run_pod(env)
    cid = start_container(env, sid, scfg, "once", ["/bin/sh", "-c", "cat; echo stdin ended; sleep 600"],
                          stdin=True, stdin_once=True)
    wait_state(env, cid, PB.CONTAINER_RUNNING)
    ws = attach_ws(env, cid, stdin=True, stdout=True)
    ws.send_binary(b"\x00first\n")
    recv_until(ws, b"first")
    ws.close()
    wait_log_text(scfg, "once", "stdin ended")


def test_attach_stdin_once_closes_stdin_and_the_stream_ends_with_the_container(env):  # noqa: F811
    """As critest attaches: `sh` reading its stdin; the client writes a command and closes its
    stdin. The container's stdin must close then (sh exits) and the stream must end with the
    container, well before the client's own timeout."""
    need_spdy()
    sid, scfg = run_pod(env)
    cid = start_container(env, sid, scfg, "shell-once", ["/bin/sh"], stdin=True, stdin_once=True)
    wait_state(env, cid, PB.CONTAINER_RUNNING)
    url = env.d.runtime().Attach(PB.AttachRequest(container_id=cid, stdin=True, stdout=True,
                                                  stderr=True), timeout=10).url
    t0 = time.time()
    r = spdy(["exec", url, "-stdin", "-stdout", "-stderr"], inp=b"echo hello\n", timeout=15)
    assert b"hello" in r.stdout, r
    assert time.time() - t0 < 3, f"the attach stream outlived its container: {time.time() - t0}s"
    wait_state(env, cid, PB.CONTAINER_EXITED, timeout=5)


def test_attach_tty_container(env):  # noqa: F811
    sid, scfg = run_pod(env)
    cid = start_container(env, sid, scfg, "term", ["/bin/sh", "-c", "while read l; do stty size; done"],
                          stdin=True, tty=True)
    wait_state(env, cid, PB.CONTAINER_RUNNING)
    url = env.d.runtime().Attach(PB.AttachRequest(container_id=cid, stdin=True, stdout=True,
                                                  tty=True), timeout=10).url
    ws = websocket.create_connection(ws_url(url), subprotocols=["v4.channel.k8s.io"], timeout=20)
    ws.send_binary(b'\x04{"Width":77,"Height":22}')
    time.sleep(0.3)
    ws.send_binary(b"\x00x\n")
    recv_until(ws, b"22 77")
    ws.close()


# ---- port forward ----

def test_port_forward_http_and_echo(env):  # noqa: F811
    sid, scfg = run_pod(env)
    start_container(env, sid, scfg, "web", ["httpd", "-f", "-p", "8080", "-h", "/www"])
    cid = start_container(env, sid, scfg, "echo", ["nc", "-ll", "-p", "9000", "-e", "cat"])
    wait_state(env, cid, PB.CONTAINER_RUNNING)
    deadline = time.time() + 10
    got = b""
    while b"hello from a pod" not in got and time.time() < deadline:
        got = ws_forward(pf_url(env, sid, [8080]), b"GET / HTTP/1.0\r\n\r\n", b"hello from a pod")
        time.sleep(0.2)
    assert b"200" in got.split(b"\r\n")[0] and b"hello from a pod" in got
    got = ws_forward(pf_url(env, sid, [9000]), b"ping over websocket\n", b"websocket\n")
    assert got == b"ping over websocket\n"
    need_spdy()
    r = spdy(["portforward", pf_url(env, sid), "-port", "8080"], b"GET / HTTP/1.0\r\n\r\n")
    assert b"hello from a pod" in r.stdout, r.stderr
    r = spdy(["portforward", pf_url(env, sid), "-port", "9000", "-count", "3"], b"echo me")
    assert r.returncode == 0 and r.stdout == b"echo me" * 3, r.stderr
    data = os.urandom(2 << 20)
    r = spdy(["portforward", pf_url(env, sid), "-port", "9000"], data)
    assert r.returncode == 0 and r.stdout == data, r.stderr[-500:]


def test_port_forward_refused(env, pod):  # noqa: F811
    sid, _, _ = pod
    ws = websocket.create_connection(ws_url(pf_url(env, sid, [9])),
                                     subprotocols=["v4.channel.k8s.io"], timeout=20)
    msgs = []
    while True:
        op, data = ws.recv_data(control_frame=True)
        if op == websocket.ABNF.OPCODE_CLOSE:
            break
        msgs.append(data)
    assert any(m[0] == 1 and b"error forwarding port" in m for m in msgs), msgs
