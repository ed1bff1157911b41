"""Nothing is left behind by repeated work on the simulated host: the doubles count the
compute system and process handles wincrid holds, the std pipe ends HCS handed it and still
open in it, its threads, live processes and mounted volumes (wine cannot count all of a
process's handles: GetProcessHandleCount answers 0, so the HCS-given handles are what is
checked)."""
import time

import pytest

from winsim import PB

websocket = pytest.importorskip("websocket", reason="needs Debian's python3-websocket")


def mine(host):
    return [c for c in host.stats()["clients"] if c["pid"]][0]


def settle(host, pred, timeout=20):
    deadline = time.time() + timeout
    while True:
        m = mine(host)
        if pred(m) or time.time() > deadline:
            return m
        time.sleep(0.3)


def test_repeated_exec_and_attach_leave_nothing(host, pods):
    sid, scfg = pods.run_pod()
    cid = pods.run(sid, scfg, name="c", command=["C:\\app\\ctr.exe"], args=["cat"], stdin=True)

    def one_round():
        pods.rt.ExecSync(PB.ExecSyncRequest(container_id=cid, cmd=["ctr.exe", "echo", "x"],
                                            timeout=20), timeout=60)
        url = pods.rt.Exec(PB.ExecRequest(container_id=cid, cmd=["ctr.exe", "exit", "1"],
                                          stdout=True, stderr=True), timeout=30).url
        ws = websocket.create_connection("ws" + url[4:], subprotocols=["v4.channel.k8s.io"],
                                         timeout=30)
        while ws.recv_data(control_frame=True)[0] != websocket.ABNF.OPCODE_CLOSE:
            pass
        ws.close()
        url = pods.rt.Attach(PB.AttachRequest(container_id=cid, stdout=True), timeout=30).url
        ws = websocket.create_connection("ws" + url[4:], subprotocols=["v4.channel.k8s.io"],
                                         timeout=30)
        ws.close()

    for _ in range(2):  # warm up the worker pool and the streaming server
        one_round()
    base = settle(host, lambda m: m["process_handles"] <= 1)
    for _ in range(10):
        one_round()
    after = settle(host, lambda m: m["process_handles"] <= base["process_handles"] and
                   m["pipes_open"] <= base["pipes_open"] and
                   m["threads"] <= base["threads"] + 2)
    assert after["process_handles"] <= base["process_handles"], (base, after)
    assert after["system_handles"] <= base["system_handles"], (base, after)
    assert after["pipes_open"] <= base["pipes_open"], (base, after)
    assert after["threads"] <= base["threads"] + 2, (base, after)
    assert host.stats()["live_processes"] == 1  # only cat
