"""Exec on the simulated host: ExecSync (output, exit codes, timeouts) and the streaming
server's Exec and PortForward, driven by python3-websocket."""
import json
import socket
import time

import grpc
import pytest

from winsim import PB, assert_golden, calls, only

websocket = pytest.importorskip("websocket", reason="needs Debian's python3-websocket")


@pytest.fixture
def running(pods):
    sid, scfg = pods.run_pod()
    cid = pods.run(sid, scfg, name="c")
    pods.wait_log(scfg, "c", "running pid=")
    return pods, sid, scfg, cid


def lf(b):
    """ctr.exe writes in text mode, as Windows programs do: lines end with CRLF."""
    return b.replace(b"\r\n", b"\n")


def exec_sync(pods, cid, cmd, timeout=20):
    return pods.rt.ExecSync(PB.ExecSyncRequest(container_id=cid, cmd=cmd, timeout=timeout),
                            timeout=timeout + 30)


def test_exec_sync_output_and_exit_codes(host, running):
    pods, _, _, cid = running
    m = host.mark()
    r = exec_sync(pods, cid, ["C:\\app\\ctr.exe", "echo", "out line", ";", "err", "err line",
                              ";", "exit", "7"])
    assert r.exit_code == 7
    assert lf(r.stdout) == b"out line\n" and lf(r.stderr) == b"err line\n"
    r = exec_sync(pods, cid, ["ctr.exe", "pwd"])
    assert r.exit_code == 0 and r.stdout.strip().lower().endswith(b"\\app")
    j = host.journal(m)
    procs = calls(j, "HcsCreateProcess")
    assert len(procs) == 2
    assert_golden("process_exec.json", procs[0]["doc"])
    assert len(calls(j, "HcsCloseProcess")) == 2


def test_exec_sync_timeout_kills_the_process(host, running):
    pods, _, _, cid = running
    m = host.mark()
    t0 = time.time()
    with pytest.raises(grpc.RpcError) as e:
        exec_sync(pods, cid, ["ctr.exe", "stubborn"], timeout=2)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.value.details()
    assert time.time() - t0 < 15
    j = host.journal(m)
    assert calls(j, "HcsTerminateProcess"), [x["call"] for x in j]
    deadline = time.time() + 10
    while host.stats()["live_processes"] > 1 and time.time() < deadline:
        time.sleep(0.2)
    assert host.stats()["live_processes"] == 1  # only the container's own process is left


def test_exec_sync_in_stopped_container_fails(running):
    pods, _, _, cid = running
    pods.rt.StopContainer(PB.StopContainerRequest(container_id=cid, timeout=0), timeout=60)
    with pytest.raises(grpc.RpcError) as e:
        exec_sync(pods, cid, ["ctr.exe", "echo", "x"])
    assert e.value.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND)


# ---- streaming ----

def ws_url(url):
    return "ws" + url[len("http"):]


def ws_session(url, send=(), proto="v4.channel.k8s.io", until_close=True, timeout=30):
    ws = websocket.create_connection(ws_url(url), subprotocols=[proto], timeout=timeout)
    for ch, data in send:
        ws.send_binary(bytes([ch]) + data)
    got = {}
    while until_close:
        op, data = ws.recv_data(control_frame=True)
        if op == websocket.ABNF.OPCODE_CLOSE:
            break
        if data:
            got[data[0]] = got.get(data[0], b"") + data[1:]
    ws.close()
    return got


def v4_exit(raw):
    st = json.loads(raw)
    if st["status"] == "Success":
        return 0
    return int(st["details"]["causes"][0]["message"])


def test_exec_stream_stdin_and_exit_code(host, running):
    pods, _, _, cid = running
    url = pods.rt.Exec(PB.ExecRequest(container_id=cid, cmd=["ctr.exe", "cat", ";", "exit", "4"],
                                      stdin=True, stdout=True, stderr=True), timeout=30).url
    ws = websocket.create_connection(ws_url(url), subprotocols=["v5.channel.k8s.io"],
                                     timeout=30)
    ws.send_binary(b"\x00hello through hcs\n")
    ws.send_binary(b"\xff\x00")  # v5: close stdin
    got = {}
    while True:
        op, data = ws.recv_data(control_frame=True)
        if op == websocket.ABNF.OPCODE_CLOSE:
            break
        if data:
            got[data[0]] = got.get(data[0], b"") + data[1:]
    ws.close()
    assert lf(got.get(1, b"")) == b"hello through hcs\neof\n", got
    assert v4_exit(got[3]) == 4


def test_exec_tty_console_and_resize(host, running):
    """A TTY exec asks HCS for a console (EmulateConsole, no stderr pipe); a resize reaches
    HCS as HcsModifyProcess ConsoleSize. wine 8 attaches no pseudo console to a child, so the
    double gives the process pipes (it reports "pipe", not a console size) and records the
    size."""
    pods, _, _, cid = running
    m = host.mark()
    url = pods.rt.Exec(PB.ExecRequest(container_id=cid, cmd=["ctr.exe", "sleep", "1500", ";",
                                                           "tty"],
                                      tty=True, stdin=True, stdout=True), timeout=30).url
    ws = websocket.create_connection(ws_url(url), subprotocols=["v4.channel.k8s.io"],
                                     timeout=30)
    ws.send_binary(b"\x04" + json.dumps({"Width": 100, "Height": 30}).encode())
    out = b""
    deadline = time.time() + 30
    while time.time() < deadline:
        op, data = ws.recv_data(control_frame=True)
        if op == websocket.ABNF.OPCODE_CLOSE:
            break
        if data and data[0] == 1:
            out += data[1:]
    ws.close()
    j = host.journal(m)
    proc = only(j, "HcsCreateProcess")
    assert proc["doc"].get("EmulateConsole") is True, proc["doc"]
    assert "CreateStdErrPipe" not in proc["doc"]
    mods = calls(j, "HcsModifyProcess")
    assert mods, [e["call"] for e in j]
    assert_golden("process_resize.json", mods[-1]["doc"], {"width": 100, "height": 30})
    assert b"pipe" in out, out


def test_port_forward_reaches_the_pod_ip(host, running):
    pods, sid, scfg, _ = running
    port = 18000 + int(time.time()) % 1000
    cid = pods.run(sid, scfg, name="web", command=["C:\\app\\ctr.exe"],
                   args=["listen", str(port)])
    pods.wait_log(scfg, "web", f"listening {port}")
    url = pods.rt.PortForward(PB.PortForwardRequest(pod_sandbox_id=sid, port=[port]),
                              timeout=30).url
    ws = websocket.create_connection(ws_url(url), subprotocols=["v4.channel.k8s.io"],
                                     timeout=30)
    for _ in range(2):  # each channel opens with its port number
        assert len(ws.recv()) == 3
    ws.send_binary(b"\x00ping over port-forward")
    got, errors = b"", b""
    while b"ping over port-forward" not in got:
        data = ws.recv()
        assert data, f"the stream ended: data {got!r}, errors {errors!r}"
        if data[:1] == b"\x00":
            got += data[1:]
        elif data[:1] == b"\x01":
            errors += data[1:]
    ws.close()
    # the pod's IP is its HCN endpoint's address, which the test can reach directly too
    st = pods.rt.PodSandboxStatus(PB.PodSandboxStatusRequest(pod_sandbox_id=sid), timeout=30)
    with socket.create_connection((st.status.network.ip, port), timeout=10) as s:
        s.sendall(b"direct")
        assert s.recv(16) == b"direct"
    pods.rt.StopContainer(PB.StopContainerRequest(container_id=cid, timeout=0), timeout=60)


# ---- attach ----

def attach_ws(pods, cid, proto="v5.channel.k8s.io", **flags):
    url = pods.rt.Attach(PB.AttachRequest(container_id=cid, **flags), timeout=30).url
    return websocket.create_connection(ws_url(url), subprotocols=[proto], timeout=30)


def recv_until(ws, needle, channel=1):
    seen = b""
    while needle not in seen:
        data = ws.recv()
        if data[:1] == bytes([channel]):
            seen += data[1:]
    return seen


def test_attach_two_watchers_and_stdin(host, pods):
    """Attach (built for Windows with these tests): the container's stdin from one attacher
    reaches the process; its output goes to every attacher and to the log."""
    sid, scfg = pods.run_pod()
    m = host.mark()
    cid = pods.run(sid, scfg, name="cat", command=["C:\\app\\ctr.exe"], args=["cat"],
                   stdin=True)
    assert_golden("process_stdin.json", only(host.journal(m), "HcsCreateProcess")["doc"],
                  {"command_line": "C:\\app\\ctr.exe cat"})
    a = attach_ws(pods, cid, stdin=True, stdout=True, stderr=True)
    b = attach_ws(pods, cid, stdout=True)
    a.send_binary(b"\x00hello attach\n")
    assert b"hello attach" in recv_until(a, b"hello attach")
    assert b"hello attach" in recv_until(b, b"hello attach")
    a.send_binary(b"\x00second line\n")
    assert b"second line" in recv_until(b, b"second line")
    pods.wait_log(scfg, "cat", "stdout F second line")
    a.close()
    b.close()
    pods.rt.StopContainer(PB.StopContainerRequest(container_id=cid, timeout=0), timeout=60)


def test_attach_stdin_once_ends_input(pods):
    """stdin_once: when the attacher leaves, the container's stdin closes and cat ends."""
    sid, scfg = pods.run_pod()
    cid = pods.run(sid, scfg, name="once", command=["C:\\app\\ctr.exe"],
                   args=["cat", ";", "exit", "5"], stdin=True, stdin_once=True)
    a = attach_ws(pods, cid, stdin=True, stdout=True)
    a.send_binary(b"\x00only once\n")
    recv_until(a, b"only once")
    a.send_binary(b"\xff\x00")  # v5: this attacher's stdin is done
    a.close()
    st = pods.wait_state(cid, PB.CONTAINER_EXITED, timeout=30)
    assert st.exit_code == 5
    assert "stdout F eof" in pods.wait_log(scfg, "once", "eof")


def test_attach_output_only_and_container_exit(pods):
    sid, scfg = pods.run_pod()
    cid = pods.run(sid, scfg, name="talk", command=["C:\\app\\ctr.exe"],
                   args=["sleep", "1500", ";", "log", "5", "100", "t", ";", "exit", "9"])
    ws = attach_ws(pods, cid, proto="v4.channel.k8s.io", stdout=True, stderr=True)
    got = {}
    while True:
        op, data = ws.recv_data(control_frame=True)
        if op == websocket.ABNF.OPCODE_CLOSE:
            break
        if data:
            got[data[0]] = got.get(data[0], b"") + data[1:]
    ws.close()
    assert lf(got.get(1, b"")).endswith(b"t-3\nt-4\n"), got
    assert v4_exit(got[3]) == 0  # attach reports Success; the exit code is in the status
    assert pods.wait_state(cid, PB.CONTAINER_EXITED).exit_code == 9
