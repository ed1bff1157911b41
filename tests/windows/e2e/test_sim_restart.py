"""wincrid.exe killed and started again while its containers run on the simulated host:
the compute systems outlive it (ShouldTerminateOnLastHandleClosed false), the new wincrid
reopens them and their init processes, and manages them as before."""
import os
import time

import pytest

from winsim import Pods, PB, WinCrid, calls, only


@pytest.fixture
def own(host, registry, image_ref):
    d = WinCrid(host, registry.host, subnet_index=2).start()
    d.image().PullImage(PB.PullImageRequest(image=PB.ImageSpec(image=image_ref)), timeout=300)
    yield d
    d.kill()


def test_restart_with_running_containers(host, own, image_ref):
    p = Pods(own, image_ref)
    sid, scfg = p.run_pod()
    run = p.run(sid, scfg, name="run")
    quick = p.run(sid, scfg, name="quick", command=["C:\\app\\ctr.exe"],
                  args=["sleep", "3000", ";", "exit", "4"])
    p.wait_log(scfg, "run", "running pid=")
    pid = own.pid()
    own.kill()
    st = host.stats()
    assert pid not in [c["pid"] for c in st["clients"]]  # its handles are gone
    assert {s["id"]: s["state"] for s in st["system_list"]}.get(run) == "Running"
    time.sleep(3.5)  # "quick" exits while nobody watches
    m = host.mark()
    own.start()
    p = Pods(own, image_ref)
    p.sandboxes = [sid]
    j = host.journal(m)
    opened = {e["id"] for e in calls(j, "HcsOpenComputeSystem")}
    assert {run, quick} <= opened
    assert [e for e in calls(j, "HcsOpenProcess") if e["id"].startswith(run)]
    assert p.status(run).state == PB.CONTAINER_RUNNING
    # the exit that happened meanwhile is known, with its code, from the reopened process
    st = p.wait_state(quick, PB.CONTAINER_EXITED, timeout=30)
    assert st.exit_code == 4, (st.exit_code, st.reason, st.message)
    ps = p.rt.PodSandboxStatus(PB.PodSandboxStatusRequest(pod_sandbox_id=sid), timeout=30)
    assert ps.status.state == PB.SANDBOX_READY
    r = p.rt.ExecSync(PB.ExecSyncRequest(container_id=run, cmd=["ctr.exe", "echo", "again"],
                                         timeout=20), timeout=60)
    assert (r.exit_code, r.stdout.strip()) == (0, b"again")
    s = p.rt.ContainerStats(PB.ContainerStatsRequest(container_id=run), timeout=30).stats
    assert s.memory.working_set_bytes.value > 0
    # a graceful stop reaches the reopened init process: it exits on CtrlShutdown (106)
    m = host.mark()
    p.rt.StopContainer(PB.StopContainerRequest(container_id=run, timeout=20), timeout=60)
    st = p.status(run)
    assert (st.state, st.exit_code) == (PB.CONTAINER_EXITED, 106)
    assert only(host.journal(m), "HcsSignalProcess")["doc"] == {"Signal": "CtrlShutdown"}
    p.cleanup()
    p.sandboxes = []
    after = host.stats()
    assert run not in [x["id"] for x in after["system_list"]]
    assert quick not in [x["id"] for x in after["system_list"]]


def stdout_lines(pods, scfg, name):
    with open(pods.log_file(scfg, name), errors="replace") as f:
        return [r.split(" ", 3)[3] for r in f.read().splitlines() if r.split(" ")[1] == "stdout"]


def wait_pids(fn, timeout=30):
    deadline = time.time() + timeout
    while not fn():
        assert time.time() < deadline, "no stdio keeper process"
        time.sleep(0.2)
    return fn()


def test_logs_continue_after_restart(host, own, image_ref):
    """kill -9 of wincrid while a container writes a line every 50 ms: the stdio keeper holds
    the init's HCS pipes (README "Restart without loss"), so what the container writes while
    wincrid is away is logged, every line exactly once and in order, and the new wincrid
    learns the exit code from HCS."""
    p = Pods(own, image_ref)
    sid, scfg = p.run_pod()
    cid = p.run(sid, scfg, name="talk", command=["C:\\app\\ctr.exe"],
                args=["log", "100", "50", "t", ";", "exit", "3"])
    p.wait_log(scfg, "talk", "t-5")
    keeper = wait_pids(own.keeper_pids)
    own.kill()
    time.sleep(2)
    during = stdout_lines(p, scfg, "talk")
    own.start()
    assert own.keeper_pids() == keeper  # the same keeper: wincrid found it, started none
    assert "connected to the stdio keeper" in own.log()
    p = Pods(own, image_ref)
    p.sandboxes = [sid]
    try:
        assert during and during[-1] != "t-5"  # written while no wincrid ran
        st = p.wait_state(cid, PB.CONTAINER_EXITED, timeout=60)
        assert st.exit_code == 3
        p.rt.StopContainer(PB.StopContainerRequest(container_id=cid, timeout=5), timeout=60)
        assert stdout_lines(p, scfg, "talk") == [f"t-{i}" for i in range(100)]
    finally:
        p.cleanup()


def test_keeper_killed_is_replaced(host, own, image_ref):
    """The keeper killed while a container writes: wincrid's own copies keep the pipes open,
    it starts a new keeper and hands it the container again (resync); the output written
    meanwhile waited in the pipe, so the log still has every line once, in order."""
    p = Pods(own, image_ref)
    sid, scfg = p.run_pod()
    cid = p.run(sid, scfg, name="talk", command=["C:\\app\\ctr.exe"],
                args=["log", "100", "50", "k", ";", "exit", "0"])
    p.wait_log(scfg, "talk", "k-5")
    old = own.kill_keeper()
    assert old
    new = wait_pids(lambda: [x for x in own.keeper_pids() if x not in old])
    assert new
    try:
        assert p.wait_state(cid, PB.CONTAINER_EXITED, timeout=60).exit_code == 0
        p.rt.StopContainer(PB.StopContainerRequest(container_id=cid, timeout=5), timeout=60)
        lines = stdout_lines(p, scfg, "talk")
        # A keeper killed mid-line may lose what it had read and not yet written (one read,
        # at most the line in flight); nothing is written twice and the order holds.
        want = [f"k-{i}" for i in range(100)]
        assert len(lines) >= 99 and lines == [x for x in want if x in lines], lines
        assert "keeper" in own.log() and "took over" in own.log()
    finally:
        p.cleanup()


def test_stdin_and_log_rotation_after_restart(host, own, image_ref):
    """A container reading stdin survives a wincrid restart: the keeper kept its stdin writer,
    the new wincrid gets a copy back (keeper "get"), and an attacher after the restart reaches
    the process; ReopenContainerLog after the restart goes through the keeper."""
    websocket = pytest.importorskip("websocket", reason="needs Debian's python3-websocket")
    from test_sim_exec import attach_ws, recv_until
    p = Pods(own, image_ref)
    sid, scfg = p.run_pod()
    cid = p.run(sid, scfg, name="cat", command=["C:\\app\\ctr.exe"], args=["cat"], stdin=True)
    a = attach_ws(p, cid, stdin=True, stdout=True)
    a.send_binary(b"\x00before\n")
    recv_until(a, b"before")
    a.close()
    own.kill()
    own.start()
    p = Pods(own, image_ref)
    p.sandboxes = [sid]
    try:
        assert p.status(cid).state == PB.CONTAINER_RUNNING
        path = p.log_file(scfg, "cat")
        os.rename(path, path + ".1")
        p.rt.ReopenContainerLog(PB.ReopenContainerLogRequest(container_id=cid), timeout=30)
        a = attach_ws(p, cid, stdin=True, stdout=True)
        a.send_binary(b"\x00after\n")
        assert b"after" in recv_until(a, b"after")
        a.close()
        p.wait_log(scfg, "cat", "stdout F after")
        with open(path + ".1") as f:
            assert "stdout F before" in f.read()
        assert websocket
    finally:
        p.cleanup()


def test_hyperv_pod_after_restart(host, own, image_ref):
    """A Hyper-V pod made before a restart: the new wincrid reopens its utility VM and its
    containers by id (hcsshim internal/hcs/system.go OpenComputeSystem; the VM's devices from
    our record), so exec, stats, a new container in the pod, stop and removal work on it."""
    handler = "runhcs-wcow-hypervisor"
    own.image().PullImage(PB.PullImageRequest(image=PB.ImageSpec(
        image=image_ref, runtime_handler=handler)), timeout=300)
    p = Pods(own, image_ref)
    sid, scfg = p.run_pod(handler=handler)
    uvm = sid + "@vm"
    c1 = p.run(sid, scfg, name="c1")
    p.wait_log(scfg, "c1", "running pid=")
    c0 = p.run(sid, scfg, name="c0", command=["C:\\app\\ctr.exe"], args=["exit", "5"])
    assert p.wait_state(c0, PB.CONTAINER_EXITED).exit_code == 5  # ended, not yet removed
    own.kill()
    m = host.mark()
    own.start()
    p = Pods(own, image_ref)
    p.sandboxes = [sid]
    j = host.journal(m)
    opened = {e["id"] for e in calls(j, "HcsOpenComputeSystem")}
    assert {uvm, c1} <= opened, opened
    assert not [e for e in calls(j, "HcsCreateComputeSystem")]
    assert p.status(c1).state == PB.CONTAINER_RUNNING
    r = p.rt.ExecSync(PB.ExecSyncRequest(container_id=c1, cmd=["ctr.exe", "echo", "hv"],
                                         timeout=20), timeout=60)
    assert (r.exit_code, r.stdout.strip()) == (0, b"hv")
    s = p.rt.ContainerStats(PB.ContainerStatsRequest(container_id=c1), timeout=30).stats
    assert s.memory.working_set_bytes.value > 0

    # the container that had ended leaves the VM when removed: its LUN (2) goes
    m1 = host.mark()
    p.rt.RemoveContainer(PB.RemoveContainerRequest(container_id=c0), timeout=60)
    rel0 = [e for e in calls(host.journal(m1), "HcsModifyComputeSystem") if e["id"] == uvm]
    assert [e["doc"].get("ResourcePath") for e in rel0 if e["doc"].get("RequestType") ==
            "Remove"] == ["VirtualMachine/Devices/Scsi/0/Attachments/2"], rel0
    assert all(e["hr"] == "0x00000000" for e in rel0), rel0
    assert uvm in [x["id"] for x in host.stats()["system_list"]]  # c1 still runs in it

    # a new container joins the same VM: no second VM, the layer shares reused, the next LUN
    m2 = host.mark()
    c2 = p.run(sid, scfg, name="c2", command=["C:\\app\\ctr.exe"],
               args=["echo", "second", ";", "exit", "3"])
    assert p.wait_state(c2, PB.CONTAINER_EXITED).exit_code == 3
    j2 = host.journal(m2)
    assert not [e for e in calls(j2, "HcsCreateComputeSystem") if e["id"] == uvm]
    mods = [e["doc"] for e in calls(j2, "HcsModifyComputeSystem") if e["id"] == uvm]
    assert [d.get("ResourcePath") for d in mods] == [
        "VirtualMachine/Devices/Scsi/0/Attachments/2", None], mods
    assert mods[1]["GuestRequest"]["ResourceType"] == "CombinedLayers"
    assert [x["Path"][-2:] for x in mods[1]["GuestRequest"]["Settings"]["Layers"]] == [
        "s1", "s2"]
    assert all(e["hr"] == "0x00000000" for e in calls(j2, "HcsModifyComputeSystem"))

    # c1 stops gracefully and leaves the VM: its scratch LUN goes, the shares stay for c2
    m3 = host.mark()
    p.rt.StopContainer(PB.StopContainerRequest(container_id=c1, timeout=20), timeout=60)
    assert p.status(c1).exit_code == 106
    p.rt.RemoveContainer(PB.RemoveContainerRequest(container_id=c1), timeout=60)
    rel = [e for e in calls(host.journal(m3), "HcsModifyComputeSystem") if e["id"] == uvm]
    assert [e["doc"].get("ResourcePath") for e in rel if e["doc"].get("RequestType") ==
            "Remove"] == ["VirtualMachine/Devices/Scsi/0/Attachments/1"], rel
    assert all(e["hr"] == "0x00000000" for e in rel), rel
    p.rt.RemoveContainer(PB.RemoveContainerRequest(container_id=c2), timeout=60)
    p.cleanup()
    p.sandboxes = []
    st = host.stats()
    assert st["vms"] == 0
    assert uvm not in [x["id"] for x in st["system_list"]]


def test_gmsa_instance_removed_after_restart(host, own, image_ref):
    """A container's Credential Guard instance outlives wincrid as the container does; the
    new wincrid removes it with the container (the record keeps the credential spec)."""
    from test_sim_identity import credspec, service_calls, windows_identity
    p = Pods(own, image_ref)
    sid, scfg = p.run_pod()
    cid = p.run(sid, scfg, name="gmsa", windows=windows_identity(credspec()))
    p.wait_log(scfg, "gmsa", "running pid=")
    own.kill()
    assert cid in host.stats()["ccg_instances"]
    own.start()
    p = Pods(own, image_ref)
    p.sandboxes = [sid]
    m = host.mark()
    p.rt.StopContainer(PB.StopContainerRequest(container_id=cid, timeout=5), timeout=60)
    p.rt.RemoveContainer(PB.RemoveContainerRequest(container_id=cid), timeout=60)
    rm = service_calls(host.journal(m), "RemoveInstance")
    assert [e["doc"]["Settings"]["OperationDetails"]["Id"] for e in rm] == [cid]
    assert rm[0]["hr"] == "0x00000000"
    assert cid not in host.stats()["ccg_instances"]
    p.cleanup()
